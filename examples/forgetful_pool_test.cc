// Fails on purpose: the pool's workers outlive it. examples_test checks the
// report; thread_pool_test is the fixed twin.

#include "examples/forgetful_pool.h"

#include <atomic>

#include "gtest/gtest.h"

namespace examples {
namespace {

TEST(ForgetfulPoolTest, RunsJobs) {
  std::atomic<int> done{0};
  {
    ForgetfulPool pool(2, "resizer");
    pool.Submit([&] { ++done; });
    pool.Submit([&] { ++done; });
    while (done < 2) std::this_thread::yield();
  }
  EXPECT_EQ(done, 2);
}

}  // namespace
}  // namespace examples
