// Passes: the flusher's thread outlives the test by up to 100 ms, within
// the leak check's grace window.

#include "examples/background_flusher.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"

namespace examples {
namespace {

TEST(BackgroundFlusherTest, FlushesPeriodically) {
  auto flushes = std::make_shared<std::atomic<int>>(0);
  BackgroundFlusher flusher([flushes] { ++*flushes; });
  while (*flushes < 2)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(*flushes, 2);
}

}  // namespace
}  // namespace examples
