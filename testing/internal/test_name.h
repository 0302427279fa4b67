// The name taskleak's reports give a test.

#ifndef TASKLEAK_TESTING_INTERNAL_TEST_NAME_H_
#define TASKLEAK_TESTING_INTERNAL_TEST_NAME_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace internal {

// "Suite.Test", as GoogleTest prints it.
inline std::string TestName(const ::testing::TestInfo& test) {
  return absl::StrCat(test.test_suite_name(), ".", test.name());
}

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_INTERNAL_TEST_NAME_H_
