// The pthread_create interposer behind runtime/thread_origin.h: every thread
// started through it is registered under its tid, with its CreationRecord,
// from the moment it starts running until it ends. thread_origin.h hands
// callers copies of these records as ThreadOrigin.

#ifndef TASKLEAK_RUNTIME_INTERNAL_INTERPOSE_PTHREAD_CREATE_INTERPOSER_H_
#define TASKLEAK_RUNTIME_INTERNAL_INTERPOSE_PTHREAD_CREATE_INTERPOSER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "taskleak/runtime/internal/unwind/stack_bounds.h"

namespace taskleak {
namespace internal {

// How one thread was created; the fields mean what ThreadOrigin's do.
// Immutable once published, and shared between threads: read it only inside
// VisitCreationRecord or a ThreadEndObserver.
struct CreationRecord {
  pid_t tid = 0;
  pid_t creator_tid = 0;
  std::string creator_name;
  std::vector<uintptr_t> creation_stack;
  absl::Time created_at;
  std::shared_ptr<const CreationRecord> creator_origin;
  bool in_static_initializer = false;
  // The thread's own stack, read as it started.
  StackBounds stack;
};

// The deepest creation stack and the longest chain a record keeps.
constexpr int kMaxRecordedFrames = 64;
constexpr int kMaxRecordedChain = 64;

// Calls `visit` with the record of the live thread `tid` (null if there is
// none), inside a HiddenFromTsan scope; `visit` must copy what it keeps.
// Thread-safe.
void VisitCreationRecord(pid_t tid,
                         absl::FunctionRef<void(const CreationRecord*)> visit);

// The live registered threads whose creation was counted after
// InterposedCreateCalls() returned `create_calls`: with their tids, threads
// that reuse the tid of an older one are told apart from it. Thread-safe.
std::vector<pid_t> ThreadsCreatedAfter(uint64_t create_calls);

// How many threads have started through the interposer so far. Thread-safe.
uint64_t InterposedThreadStarts();

// How many times pthread_create was called through the interposer, counted
// before the call is forwarded. Thread-safe.
uint64_t InterposedCreateCalls();

// Called on each recorded thread as it ends (after its start routine
// returned, pthread_exit or cancellation), inside a HiddenFromTsan scope,
// before its record is dropped. Null: nothing is called. The observer must
// not block. Thread-safe.
using ThreadEndObserver = void (*)(const CreationRecord& record);
void SetThreadEndObserver(ThreadEndObserver observer);
// How many recorded threads have ended, counted as each drops its record.
// Thread-safe, async-signal-safe.
uint64_t InterposedThreadExits();

// Returns once InterposedThreadExits() differs from `exits_seen`, or after
// `timeout`. Thread-safe.
void WaitForInterposedThreadExit(uint64_t exits_seen, absl::Duration timeout);
// Whether a thread created through the interposer is running but has not
// registered its origin yet (or its creation has not returned). Read after
// listing threads: when false, a listed thread without an origin never gets
// one. Thread-safe.
bool InterposedStartsPending();

enum class ProbeResult { kRecorded, kNotRecorded, kCannotStartThread };

// Starts and joins one thread through the pthread_create that the dynamic
// linker hands to other libraries (libstdc++'s std::thread among them) and
// tells whether that thread found its own origin registered.
ProbeResult ProbeInterposer();

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_INTERPOSE_PTHREAD_CREATE_INTERPOSER_H_
