// The live OS threads of this process, read from /proc.
//
// Each thread is named by a ThreadId that survives tid reuse: the kernel
// recycles tids, but never a (tid, start time) pair.
//
//   absl::StatusOr<std::vector<taskleak::ThreadInfo>> threads =
//       taskleak::ListThreads();
//   if (!threads.ok()) return threads.status();
//   for (const taskleak::ThreadInfo& t : *threads)
//     std::cout << t.id.tid << " " << t.name << " " << t.state << "\n";
//
// All functions are thread-safe and may run while threads start and exit: a
// thread that vanishes while it is being read is left out, not an error.
// None is async-signal-safe.

#ifndef TASKLEAK_RUNTIME_THREAD_LIST_H_
#define TASKLEAK_RUNTIME_THREAD_LIST_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace taskleak {

// One thread's identity for its whole life.
struct ThreadId {
  pid_t tid = 0;
  // Clock ticks since boot at which the thread started (field 22 of stat);
  // 0 in a ThreadInfo built from the thread's own answer to a capture
  // (ThreadStack::self, runtime/stack_capture.h) instead of /proc.
  uint64_t start_ticks = 0;

  friend bool operator==(const ThreadId& a, const ThreadId& b) {
    return a.tid == b.tid && a.start_ticks == b.start_ticks;
  }
  friend bool operator!=(const ThreadId& a, const ThreadId& b) {
    return !(a == b);
  }
  friend bool operator<(const ThreadId& a, const ThreadId& b) {
    return a.tid != b.tid ? a.tid < b.tid : a.start_ticks < b.start_ticks;
  }
  template <typename H>
  friend H AbslHashValue(H h, const ThreadId& id) {
    return H::combine(std::move(h), id.tid, id.start_ticks);
  }
};

// What /proc says about one thread at the moment it was read.
struct ThreadInfo {
  ThreadId id;
  // The thread's name (comm), as set by pthread_setname_np; at most 15 bytes.
  std::string name;
  // Scheduler state letter: R running, S sleeping, D disk sleep, T stopped,
  // t tracing stop, Z zombie, X dead, I idle.
  char state = '?';
  // User plus system CPU time consumed so far.
  absl::Duration cpu_time;
  // When the thread started (derived from start_ticks and the boot time).
  absl::Time start_time;
};

// Where the thread list is read from.
struct ThreadListOptions {
  // The directory holding one entry per thread. Tests point it at a fake or
  // missing directory to exercise the error paths.
  std::string task_dir = "/proc/self/task";
};

// Returns the tids of all live threads, in no particular order. Reads only
// the directory, never a thread's files: the cheap call for "what changed".
// Fails with a status naming the directory if it cannot be read.
absl::StatusOr<std::vector<pid_t>> ListThreadIds(
    const ThreadListOptions& options = {});

// Returns how many threads are alive. Same cost and errors as ListThreadIds.
absl::StatusOr<int> CountThreads(const ThreadListOptions& options = {});

// Returns how many threads are alive in constant time, whatever their number:
// the kernel reports /proc/self/task's link count as 2 + the thread count, and
// one fstat on a descriptor kept open (O_CLOEXEC, reopened in a forked child)
// reads it. A few microseconds where listing 1,000 threads takes hundreds.
// Only the default task_dir keeps its descriptor; others are opened per call.
// Fails if the directory cannot be read or its link count does not carry the
// thread count (callers then list with CountThreads).
absl::StatusOr<int> LiveThreadCount(const ThreadListOptions& options = {});

// Reads one thread's identity, name, state and CPU time. Returns NotFound if
// the thread has exited, and another error if its stat file is unreadable or
// malformed.
absl::StatusOr<ThreadInfo> ReadThreadInfo(
    pid_t tid, const ThreadListOptions& options = {});

// ReadThreadInfo for each of `tids`, in order, through one open directory:
// a result per tid (NotFound for one that has exited).
std::vector<absl::StatusOr<ThreadInfo>> ReadEachThreadInfo(
    absl::Span<const pid_t> tids, const ThreadListOptions& options = {});

// Lists every live thread with its details. Threads that exit while the
// list is read are left out.
absl::StatusOr<std::vector<ThreadInfo>> ListThreads(
    const ThreadListOptions& options = {});

// A word for a state letter, such as "sleeping" for 'S'.
const char* ThreadStateName(char state);

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_THREAD_LIST_H_
