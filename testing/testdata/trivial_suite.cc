// 1,000 trivial tests, linked once with //testing:gtest_main and once with
// GoogleTest's own, to measure what the listener adds per test.

#include "gtest/gtest.h"

namespace {

class Trivial : public testing::TestWithParam<int> {};

TEST_P(Trivial, Passes) { EXPECT_GE(GetParam(), 0); }

INSTANTIATE_TEST_SUITE_P(Thousand, Trivial, testing::Range(0, 1000));

}  // namespace
