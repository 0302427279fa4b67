// Runs the data-race example under ThreadSanitizer and the heap-leak example
// under AddressSanitizer, and checks that each fails the right test with a
// report naming the racing threads and functions, or the allocating
// function, while the fixed twin in the same binary passes. In a build
// without the matching sanitizer the checks skip themselves (the bug is
// invisible there).

#include <string>
#include <vector>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/testing/testutil/subprocess.h"
#include "taskleak/testing/testutil/test_files.h"

namespace {

using ::taskleak::internal::ProcessResult;
using ::taskleak::internal::RunProcessOrFail;
using ::taskleak::internal::SourceLine;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(SanitizerExamplesTest, HitCounterRace) {
#ifndef ABSL_HAVE_THREAD_SANITIZER
  GTEST_SKIP() << "the race is visible only to ThreadSanitizer: "
                  "bazel test --config=tsan //examples:all";
#endif
  // TSan ends a process that reported anything with status 66; exitcode=0
  // shows the status GoogleTest and taskleak chose.
  ProcessResult r = RunProcessOrFail({"examples/hit_counting_cache_test"},
                                     {"TSAN_OPTIONS=exitcode=0"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const std::string racing_line =
      SourceLine("examples/hit_counting_cache.cc", "if (hit) ++hits_;");
  EXPECT_THAT(
      r.output,
      AllOf(HasSubstr("[  FAILED  ] HitCountingCacheTest."
                      "CountsHitsFromRequestThreads"),
            HasSubstr("taskleak: data race during HitCountingCacheTest."
                      "CountsHitsFromRequestThreads: "),
            HasSubstr(" by thread T"), HasSubstr(" (request-"),
            HasSubstr(" / previous write by thread T"),
            HasSubstr(absl::StrCat(
                "examples::HitCountingCache::Get(std::string const&) at ",
                racing_line)),
            HasSubstr("examples::(anonymous namespace)::ServeHotKey"),
            HasSubstr("[       OK ] LockedHitCountingCacheTest."
                      "CountsHitsFromRequestThreads")))
      << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr("[  FAILED  ] LockedHitCountingCache")));
}

TEST(SanitizerExamplesTest, ParserThatForgetsANode) {
#ifndef ABSL_HAVE_ADDRESS_SANITIZER
  GTEST_SKIP() << "the leak is visible only to LeakSanitizer: "
                  "bazel test --config=asan //examples:all";
#endif
  ProcessResult r = RunProcessOrFail({"examples/config_parser_test"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const std::string allocation =
      SourceLine("examples/config_parser.cc", "= new ConfigNode");
  EXPECT_THAT(r.output,
              AllOf(HasSubstr("[  FAILED  ] ConfigParserTest."
                              "LaterLinesOverrideEarlierOnes"),
                    HasSubstr("taskleak: heap leak during ConfigParserTest."
                              "LaterLinesOverrideEarlierOnes: "),
                    HasSubstr(" in 1 block (1 direct, 0 indirect) allocated in "
                              "examples::(anonymous namespace)::NewNode("),
                    HasSubstr(allocation), HasSubstr("examples::ParseConfig("),
                    HasSubstr("[       OK ] InPlaceConfigParserTest."
                              "LaterLinesOverrideEarlierOnes")))
      << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr("[  FAILED  ] InPlaceConfigParser")));
}

}  // namespace
