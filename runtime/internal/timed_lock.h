// A mutual-exclusion lock whose acquisition gives up at a deadline. Built on
// an atomic and a futex, so that ThreadSanitizer sees the ordering it
// provides (libstdc++'s std::timed_mutex uses pthread_mutex_clocklock, which
// gcc 12's ThreadSanitizer does not intercept).

#ifndef TASKLEAK_RUNTIME_INTERNAL_TIMED_LOCK_H_
#define TASKLEAK_RUNTIME_INTERNAL_TIMED_LOCK_H_

#include <time.h>

#include <atomic>
#include <cstdint>

namespace taskleak {
namespace internal {

// Not recursive, not async-signal-safe, no fairness guarantee.
class TimedLock {
 public:
  constexpr TimedLock() = default;
  TimedLock(const TimedLock&) = delete;
  TimedLock& operator=(const TimedLock&) = delete;

  // Takes the lock, waiting at most until CLOCK_MONOTONIC reaches
  // `deadline`. Returns false if it could not.
  bool LockUntil(const timespec& deadline);
  // Releases the lock, which the caller holds.
  void Unlock();

 private:
  static constexpr uint32_t kFree = 0;
  static constexpr uint32_t kLocked = 1;
  static constexpr uint32_t kContended = 2;  // Locked; someone may sleep.

  std::atomic<uint32_t> state_{kFree};
};

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_TIMED_LOCK_H_
