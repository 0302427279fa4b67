#include "taskleak/runtime/internal/interpose/creation_registry.h"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"

namespace taskleak {
namespace internal {
namespace {

std::atomic<Registry*> g_registry{nullptr};
// Recorded threads that have ended (counted as their record is dropped).
// Relaxed: a counter others only compare, never a synchronization point.
std::atomic<uint64_t> g_thread_exits{0};
// A futex word bumped with g_thread_exits, and how many checks wait on it:
// an ending thread makes the wake-up call only while someone waits.
std::atomic<uint32_t> g_exit_futex{0};
std::atomic<int> g_exit_waiters{0};

void CountExit() {
  g_thread_exits.fetch_add(1, std::memory_order_relaxed);
  g_exit_futex.fetch_add(1, std::memory_order_relaxed);
  if (g_exit_waiters.load(std::memory_order_relaxed) > 0) {
    syscall(SYS_futex, &g_exit_futex, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
  }
}

// Stack captures in progress (see BeginCapture).
std::atomic<int> g_captures_in_progress{0};
std::atomic<bool> g_fork_pending{false};

// fork() keeps only the calling thread: hold the registry's lock across it
// so the child never inherits it locked, and disown the parent's threads in
// the child.
// Each handler hides itself from ThreadSanitizer, like all our bookkeeping
// (see hidden_from_tsan.h): the lock must not order the program's threads.
void BeforeFork() {
  HiddenFromTsan hidden;
  g_fork_pending.store(true);
  while (g_captures_in_progress.load() != 0) sched_yield();
  g_registry.load()->mu.lock();
}

void AfterForkInParent() {
  HiddenFromTsan hidden;
  g_registry.load()->mu.unlock();
  g_fork_pending.store(false);
}

void AfterForkInChild() {
  HiddenFromTsan hidden;
  Registry* registry = g_registry.load();
  registry->mu.unlock();
  registry->inherited = true;
  // Creations in flight belonged to threads that do not exist here.
  registry->starts_pending.store(0, std::memory_order_relaxed);
  g_captures_in_progress.store(0);
  g_fork_pending.store(false);
}

StackBounds RecordedStackBounds(pid_t tid) {
  std::shared_ptr<const CreationRecord> record = FindShared(tid);
  return record != nullptr ? record->stack : StackBounds();
}

}  // namespace

void BeginCapture() {
  for (;;) {
    while (g_fork_pending.load()) sched_yield();
    g_captures_in_progress.fetch_add(1);
    if (!g_fork_pending.load()) return;
    g_captures_in_progress.fetch_sub(1);
  }
}

void EndCapture() { g_captures_in_progress.fetch_sub(1); }

Registry& GetRegistry() {
  static Registry* const registry = [] {
    auto* r = new Registry;
    g_registry.store(r);
    pthread_atfork(BeforeFork, AfterForkInParent, AfterForkInChild);
    SetStackBoundsLookup(&RecordedStackBounds);
    return r;
  }();
  return *registry;
}

void Register(std::shared_ptr<const CreationRecord> origin, uint64_t creation) {
  Registry& registry = GetRegistry();
  // Freed after unlocking.
  std::shared_ptr<const CreationRecord> replaced;
  OriginMap inherited;
  std::lock_guard<std::mutex> lock(registry.mu);
  if (registry.inherited) {
    inherited.swap(registry.origins);
    registry.inherited = false;
  }
  Registered& slot = registry.origins[origin->tid];
  // A stale entry can only be left by a thread that died without running
  // its thread_local destructors; its tid has been reused.
  replaced = std::move(slot.origin);
  slot.origin = std::move(origin);
  slot.creation = creation;
  registry.starts_pending.fetch_sub(1, std::memory_order_relaxed);
}

void Unregister(const CreationRecord* origin) {
  Registry& registry = GetRegistry();
  std::shared_ptr<const CreationRecord> removed;  // Released after unlocking.
  std::lock_guard<std::mutex> lock(registry.mu);
  if (registry.inherited) return;
  auto it = registry.origins.find(origin->tid);
  if (it != registry.origins.end() && it->second.origin.get() == origin) {
    removed = std::move(it->second.origin);
    registry.origins.erase(it);
  }
  CountExit();
}

std::shared_ptr<const CreationRecord> FindShared(pid_t tid) {
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  if (registry.inherited) return nullptr;
  auto it = registry.origins.find(tid);
  return it == registry.origins.end() ? nullptr : it->second.origin;
}

void StartSettled() {
  HiddenFromTsan hidden;
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  registry.starts_pending.fetch_sub(1, std::memory_order_relaxed);
}

void VisitCreationRecord(pid_t tid,
                         absl::FunctionRef<void(const CreationRecord*)> visit) {
  HiddenFromTsan hidden;
  std::shared_ptr<const CreationRecord> record = FindShared(tid);
  visit(record.get());
}

std::vector<pid_t> ThreadsCreatedAfter(uint64_t create_calls) {
  HiddenFromTsan hidden;
  std::vector<pid_t> tids;
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  if (registry.inherited) return tids;
  for (const auto& [tid, entry] : registry.origins) {
    if (entry.creation > create_calls) tids.push_back(tid);
  }
  return tids;
}

bool InterposedStartsPending() {
  HiddenFromTsan hidden;
  Registry& registry = GetRegistry();
  std::lock_guard<std::mutex> lock(registry.mu);
  return registry.starts_pending.load(std::memory_order_relaxed) > 0;
}

uint64_t InterposedThreadExits() {
  return g_thread_exits.load(std::memory_order_relaxed);
}

void WaitForInterposedThreadExit(uint64_t exits_seen, absl::Duration timeout) {
  g_exit_waiters.fetch_add(1, std::memory_order_relaxed);
  const uint32_t word = g_exit_futex.load(std::memory_order_relaxed);
  // Relaxed, so no synchronization appears between the ending thread and
  // the waiting one; a wake-up missed in between costs at most `timeout`.
  if (g_thread_exits.load(std::memory_order_relaxed) == exits_seen) {
    const timespec ts = absl::ToTimespec(timeout);
    syscall(SYS_futex, &g_exit_futex, FUTEX_WAIT_PRIVATE, word, &ts, nullptr,
            0);
  }
  g_exit_waiters.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace internal
}  // namespace taskleak
