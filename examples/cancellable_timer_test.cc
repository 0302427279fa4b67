// The fixed twin of detached_timer_test: the retry is cancelled when the
// uploader goes away, so the test leaves nothing behind.

#include "examples/cancellable_timer.h"

#include <atomic>
#include <memory>

#include "gtest/gtest.h"

namespace examples {
namespace {

class Uploader {
 public:
  bool Upload() {
    ++attempts_;
    retry_ = std::make_unique<CancellableTimer>(std::chrono::seconds(30),
                                                [] { /* would retry here */ });
    return false;
  }
  int attempts() const { return attempts_; }

 private:
  int attempts_ = 0;
  std::unique_ptr<CancellableTimer> retry_;
};

TEST(CancellableTimerTest, SchedulesARetry) {
  Uploader uploader;
  EXPECT_FALSE(uploader.Upload());
  EXPECT_EQ(uploader.attempts(), 1);
}

TEST(CancellableTimerTest, FiresWhenNotCancelled) {
  std::atomic<bool> fired{false};
  {
    CancellableTimer timer(std::chrono::milliseconds(1), [&] { fired = true; });
    while (!fired) std::this_thread::yield();
  }
  EXPECT_TRUE(fired);
}

}  // namespace
}  // namespace examples
