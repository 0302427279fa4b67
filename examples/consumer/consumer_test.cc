// A consumer's test, compiled with the toolchain's default standard: it
// includes taskleak's public headers and runs under its gtest_main.

#include <thread>

#include "gtest/gtest.h"
#include "testing/this_test.h"

TEST(ConsumerTest, JoinsItsThread) {
  std::thread([] {}).join();
}

TEST(ConsumerTest, ToleratesOneThreadItSaysItLeaves) {
  taskleak::ThisTest::SetTolerance(1);
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::hours(1));
  }).detach();
}
