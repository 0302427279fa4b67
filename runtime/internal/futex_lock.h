// A small mutual-exclusion lock for very short critical sections: one
// compare-and-swap to lock and one exchange to unlock when uncontended, a
// brief spin, then a futex wait. Constant-initialized and trivially
// destructible, so it is safe in globals used during static destruction.

#ifndef TASKLEAK_RUNTIME_INTERNAL_FUTEX_LOCK_H_
#define TASKLEAK_RUNTIME_INTERNAL_FUTEX_LOCK_H_

#include <atomic>
#include <cstdint>

#include "absl/base/optimization.h"

namespace taskleak {
namespace internal {

// Not recursive, not async-signal-safe, no fairness guarantee.
class FutexLock {
 public:
  constexpr FutexLock() = default;
  FutexLock(const FutexLock&) = delete;
  FutexLock& operator=(const FutexLock&) = delete;

  void Lock() {
    uint32_t expected = kFree;
    if (ABSL_PREDICT_TRUE(state_.compare_exchange_strong(
            expected, kLocked, std::memory_order_acquire,
            std::memory_order_relaxed))) {
      return;
    }
    LockSlow();
  }

  void Unlock() {
    if (ABSL_PREDICT_FALSE(state_.exchange(kFree, std::memory_order_release) ==
                           kContended)) {
      WakeOne();
    }
  }

 private:
  static constexpr uint32_t kFree = 0;
  static constexpr uint32_t kLocked = 1;
  static constexpr uint32_t kContended = 2;  // locked, and someone may sleep

  void LockSlow();
  void WakeOne();

  std::atomic<uint32_t> state_{kFree};
};

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_FUTEX_LOCK_H_
