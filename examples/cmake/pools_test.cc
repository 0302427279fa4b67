// Linked with taskleak::gtest_main. ForgetfulPoolTest fails with taskleak's
// report (2 threads still running, created by pools::ForgetfulPool's
// constructor); JoiningPoolTest, the fixed twin, passes.

#include "pools.h"

#include <atomic>
#include <thread>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "taskleak/testing/this_test.h"

namespace pools {
namespace {

TEST(ForgetfulPoolTest, RunsJobs) {
  std::atomic<int> done{0};
  {
    ForgetfulPool pool(2);
    pool.Submit([&] { ++done; });
    pool.Submit([&] { ++done; });
    while (done < 2) std::this_thread::yield();
  }
  EXPECT_EQ(done, 2);
}

TEST(JoiningPoolTest, RunsJobs) {
  // Should the join ever hang, fail with every thread's stack instead of
  // waiting for ctest's timeout.
  taskleak::ThisTest::SetTimeout(absl::Seconds(30));
  std::atomic<int> done{0};
  {
    JoiningPool pool(2);
    pool.Submit([&] { ++done; });
    pool.Submit([&] { ++done; });
    while (done < 2) std::this_thread::yield();
  }
  EXPECT_EQ(done, 2);
}

}  // namespace
}  // namespace pools
