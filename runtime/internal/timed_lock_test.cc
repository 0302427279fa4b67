#include "taskleak/runtime/internal/timed_lock.h"

#include <time.h>

#include <atomic>
#include <thread>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace internal {
namespace {

timespec MonotonicIn(absl::Duration d) {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return absl::ToTimespec(absl::DurationFromTimespec(now) + d);
}

TEST(TimedLockTest, GivesUpAtDeadlineAndHandsOverOnUnlock) {
  TimedLock lock;
  ASSERT_TRUE(lock.LockUntil(MonotonicIn(absl::Seconds(1))));
  std::atomic<int> outcome{-1};
  std::thread([&] {
    outcome = lock.LockUntil(MonotonicIn(absl::Milliseconds(50))) ? 1 : 0;
  }).join();
  EXPECT_EQ(outcome.load(), 0) << "took a held lock";

  std::atomic<bool> waiting{false};
  std::thread waiter([&] {
    waiting = true;
    outcome = lock.LockUntil(MonotonicIn(absl::Seconds(30))) ? 1 : 0;
    if (outcome == 1) lock.Unlock();
  });
  while (!waiting.load()) std::this_thread::yield();
  lock.Unlock();
  waiter.join();
  EXPECT_EQ(outcome.load(), 1) << "missed the unlock";
  EXPECT_TRUE(lock.LockUntil(MonotonicIn(absl::Seconds(1))));
  lock.Unlock();
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
