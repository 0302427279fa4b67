// Passes: the shared pool's workers are started by whichever test uses it
// first, and live on as a process-wide singleton, which is not a leak.

#include "examples/shared_pool.h"

#include <future>

#include "gtest/gtest.h"

namespace examples {
namespace {

int SquareInTheBackground(int x) {
  std::promise<int> result;
  SharedPool().Submit([&] { result.set_value(x * x); }, "square");
  return result.get_future().get();
}

TEST(SharedPoolTest, FirstUserStartsThePool) {
  EXPECT_EQ(SquareInTheBackground(7), 49);
}

TEST(SharedPoolTest, LaterUsersReuseIt) {
  EXPECT_EQ(SquareInTheBackground(3), 9);
}

}  // namespace
}  // namespace examples
