// Where every thread of this process was created: by which thread, from
// which stack, when, and how that creator was itself created (the "created
// by" chain Go prints under each goroutine).
//
// Linking //runtime:thread_origin installs a pthread_create interposer that
// records each thread the process starts (std::thread, std::async, raw
// pthread_create, threads started inside shared libraries):
//
//   // `tid` names a live thread, e.g. one from taskleak::ListThreadIds().
//   for (const auto& origin : taskleak::CreationChain(tid)) {
//     std::cout << origin->tid << " created by " << origin->creator_name
//               << " (" << origin->creator_tid << ") at "
//               << absl::FormatTime(origin->created_at) << "\n";
//   }
//
// Linking: the library defines pthread_create itself, so its target is
// `alwayslink = True` and `linkstatic = True`: it always lands in the
// executable, also under Bazel's default dynamic test linking, where other
// libraries become shared objects. (Built as a shared library that the
// executable needs, it works too, except behind a sanitizer runtime linked
// into the executable: it then passes calls through and records nothing.)
// Loading it later with dlopen interposes nothing. Under ThreadSanitizer or
// AddressSanitizer (clang or gcc) the sanitizer's own interceptor still runs:
// the interposer forwards to it. ThreadOriginsRecorded() tells whether
// recording works in this process.
//
// Not recorded: threads started before this library was loaded, and threads
// glibc starts for itself (timer helper, AIO), which bypass pthread_create.
// A forked child knows none of its parent's threads.
//
// Cost: about 2 us added to each thread start (the creator's name costs a
// system call); a thread's first few hundred creations use a slower stack
// unwinder (2-3 us more) before switching to a faster one.

#ifndef TASKLEAK_RUNTIME_THREAD_ORIGIN_H_
#define TASKLEAK_RUNTIME_THREAD_ORIGIN_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace taskleak {

// How one thread was created. Immutable once published.
struct ThreadOrigin {
  // The created thread's tid (set by the thread itself once it starts).
  pid_t tid = 0;
  // The thread that called pthread_create.
  pid_t creator_tid = 0;
  // The creator's name (comm) at creation time.
  std::string creator_name;
  // The creator's stack at the call, as lookup addresses (see
  // runtime/symbolizer.h), innermost first, starting at the caller
  // of pthread_create; the interposer's own frames are left out. At most
  // kMaxCreationFrames entries; empty if the stack could not be unwound.
  std::vector<uintptr_t> creation_stack;
  // When pthread_create was called.
  absl::Time created_at;
  // How the creator itself was created; null when the creator is the main
  // thread or its origin is unknown. Chains longer than kMaxCreationChain
  // links are cut short at creation time so that threads which keep
  // creating their successors do not grow memory without bound.
  std::shared_ptr<const ThreadOrigin> creator_origin;
  // Whether pthread_create was called while the creator was running the
  // initializer of a function-local static: the thread belongs to a lazily
  // started singleton, which no stack shows (the initializer runs inline).
  bool in_static_initializer = false;
};

// The deepest creation stack recorded.
constexpr int kMaxCreationFrames = 64;
// The longest chain a record keeps (the record itself included).
constexpr int kMaxCreationChain = 64;

// How the live thread `tid` was created, or null if unknown: the thread was
// created before recording began, by glibc internally, has not started
// running yet, or has exited (its record is dropped as it ends, including
// after pthread_exit and cancellation). The record and its chain are the
// caller's own copy, shared with no other thread, so that using or dropping
// it creates no synchronization that ThreadSanitizer would see between the
// program's threads. Thread-safe; not async-signal-safe.
std::shared_ptr<const ThreadOrigin> CreationOf(pid_t tid);

// The chain upward: [origin of tid, origin of its creator, ...], ending at
// the first creator whose origin is unknown (usually the main thread).
// Empty if CreationOf(tid) is null. Thread-safe; not async-signal-safe.
std::vector<std::shared_ptr<const ThreadOrigin>> CreationChain(pid_t tid);

// True when the pthread_create interposer is linked into this process and
// the pthread_create that shared libraries (libstdc++ among them) call
// reaches it. The first call checks by starting and joining one short-lived
// thread through that pthread_create; the answer is then cached.
// Thread-safe; not async-signal-safe.
bool ThreadOriginsRecorded();

// How many threads have been created through pthread_create so far, counted
// before each thread exists. When ThreadOriginsRecorded(), an unchanged
// count proves that no thread was started meanwhile, except by code that
// bypasses pthread_create (glibc's internal helpers, raw clone). Thread-safe,
// async-signal-safe, a few nanoseconds.
uint64_t ThreadCreationCount();

// The live threads created through pthread_create after
// ThreadCreationCount() returned `count`, by tid (unordered). A tid here that
// was also alive when `count` was taken belongs to a new thread that reuses
// the tid of one that has ended. Empty unless ThreadOriginsRecorded().
// Thread-safe; not async-signal-safe; one pass over the live threads.
std::vector<pid_t> ThreadsCreatedSince(uint64_t count);
// How many recorded threads have ended so far (counted in each thread as it
// ends, after its start routine returned, pthread_exit or cancellation).
// With ThreadCreationCount() and the kernel's thread count it tells, in
// constant time, that the set of threads has not changed. Thread-safe,
// async-signal-safe, a few nanoseconds.
uint64_t ThreadExitCount();

// Sleeps until a recorded thread ends (ThreadExitCount() differs from
// `exits_seen`) or `timeout` passes, whichever comes first: a check that
// waits for threads to go away notices within microseconds instead of at
// its next poll. Creates no synchronization with the ending thread.
// Thread-safe; not async-signal-safe.
void WaitForThreadExit(uint64_t exits_seen, absl::Duration timeout);
// Whether a thread created through pthread_create may not have recorded its
// origin yet. Call after listing threads: when false, a listed thread with
// no origin never gets one (it bypassed pthread_create). Thread-safe; not
// async-signal-safe.
bool ThreadStartsPending();

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_THREAD_ORIGIN_H_
