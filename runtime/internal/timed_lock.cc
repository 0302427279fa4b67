#include "taskleak/runtime/internal/timed_lock.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace taskleak {
namespace internal {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t),
              "futex word must be a plain 32-bit integer");

bool TimedLock::LockUntil(const timespec& deadline) {
  uint32_t state = kFree;
  if (state_.compare_exchange_strong(state, kLocked, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
    return true;
  }
  // Marking the lock contended before sleeping makes Unlock wake us.
  if (state != kContended)
    state = state_.exchange(kContended, std::memory_order_acquire);
  while (state != kFree) {
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time.
    const long rc =
        syscall(SYS_futex, &state_, FUTEX_WAIT_BITSET_PRIVATE, kContended,
                &deadline, nullptr, FUTEX_BITSET_MATCH_ANY);
    const bool timed_out = rc != 0 && errno == ETIMEDOUT;
    state = state_.exchange(kContended, std::memory_order_acquire);
    if (timed_out && state != kFree) return false;
  }
  return true;
}

void TimedLock::Unlock() {
  if (state_.exchange(kFree, std::memory_order_release) == kContended) {
    syscall(SYS_futex, &state_, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  }
}

}  // namespace internal
}  // namespace taskleak
