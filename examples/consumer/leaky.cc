// Leaves a thread behind; taskleak's gtest_main must fail the test.

#include <chrono>
#include <thread>

#include "gtest/gtest.h"

TEST(LeakyTest, LeavesAThread) {
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::hours(1));
  }).detach();
}
