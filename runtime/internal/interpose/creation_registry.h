// The registry behind the pthread_create interposer: the CreationRecord of
// every live recorded thread under its tid, the counters of starts pending
// and of ended threads, and the fork handlers that keep it and libunwind
// usable in a forked child. Private to the interposer library; hidden, as
// its anonymous namespace was, so that two copies of the interposer in one
// process never call each other's.

#ifndef TASKLEAK_RUNTIME_INTERNAL_INTERPOSE_CREATION_REGISTRY_H_
#define TASKLEAK_RUNTIME_INTERNAL_INTERPOSE_CREATION_REGISTRY_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "taskleak/runtime/internal/interpose/pthread_create_interposer.h"

#pragma GCC visibility push(hidden)

namespace taskleak {
namespace internal {

struct Registered {
  std::shared_ptr<const CreationRecord> origin;
  // InterposedCreateCalls() just after the thread's creation was counted.
  uint64_t creation = 0;
};

using OriginMap = absl::flat_hash_map<pid_t, Registered>;

struct Registry {
  std::mutex mu;
  OriginMap origins;
  // Recorded creations whose thread has not registered yet: incremented by
  // the creator before the thread exists, decremented under `mu` as the
  // thread registers (or by the creator if creation failed). Read under
  // `mu`, so that a reader who sees no start pending also sees every
  // registration that preceded it. Relaxed: `mu` orders it, and no new
  // synchronization between the program's threads is made.
  std::atomic<int64_t> starts_pending{0};
  // Set in a forked child: `origins` holds the parent's threads, none of
  // which exist here. They are freed at the child's first registration,
  // not in the fork handler, which must not touch the heap (a sanitizer's
  // allocator may have been locked by another thread at fork time).
  bool inherited = false;
};

// Never destroyed: threads may start and end during static destruction.
// The first call installs the fork handlers.
Registry& GetRegistry();

// Publishes the calling thread's record, counted at `creation`, and settles
// its pending start.
void Register(std::shared_ptr<const CreationRecord> origin, uint64_t creation);

// Drops `origin` (if still registered) and counts the thread's exit.
void Unregister(const CreationRecord* origin);

// The registered record itself, shared with the registry. Call only inside
// a HiddenFromTsan scope: its reference count is touched by many threads.
std::shared_ptr<const CreationRecord> FindShared(pid_t tid);

// A recorded creation that will register no thread (it failed, or the
// thread could not record itself).
void StartSettled();

// Bracket a stack capture. libunwind guards its caches with a mutex of its
// own that fork() knows nothing about: a child forked while another thread
// was unwinding would deadlock at its first capture. So fork waits for
// captures to finish, and captures wait while a fork is pending.
void BeginCapture();
void EndCapture();

}  // namespace internal
}  // namespace taskleak

#pragma GCC visibility pop

#endif  // TASKLEAK_RUNTIME_INTERNAL_INTERPOSE_CREATION_REGISTRY_H_
