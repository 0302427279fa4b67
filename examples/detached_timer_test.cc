// Fails on purpose: the retry timer's thread outlives the test.
// cancellable_timer_test is the fixed twin.

#include "examples/detached_timer.h"

#include <atomic>

#include "gtest/gtest.h"

namespace examples {
namespace {

// A client that retries a failed upload later.
class Uploader {
 public:
  bool Upload() {
    ++attempts_;
    RunAfter(std::chrono::seconds(30), [] { /* would retry here */ });
    return false;
  }
  int attempts() const { return attempts_; }

 private:
  int attempts_ = 0;
};

TEST(DetachedTimerTest, SchedulesARetry) {
  Uploader uploader;
  EXPECT_FALSE(uploader.Upload());
  EXPECT_EQ(uploader.attempts(), 1);
}

}  // namespace
}  // namespace examples
