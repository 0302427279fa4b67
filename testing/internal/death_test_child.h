// Whether this process is a child that GoogleTest started again to run one
// death test's statement ("threadsafe" style: --gtest_internal_run_death_test).
// Such a child runs the statement, which must end the process, so it never
// reaches the end of its test; the parent checks and times the test.

#ifndef TASKLEAK_TESTING_INTERNAL_DEATH_TEST_CHILD_H_
#define TASKLEAK_TESTING_INTERNAL_DEATH_TEST_CHILD_H_

#include "gtest/gtest.h"

namespace taskleak {
namespace internal {

// Valid once InitGoogleTest has parsed the command line.
inline bool InDeathTestChild() {
  return !GTEST_FLAG_GET(internal_run_death_test).empty();
}

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_INTERNAL_DEATH_TEST_CHILD_H_
