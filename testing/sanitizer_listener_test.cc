// Runs testing/testdata/sanitizer_suite (built with //testing:gtest_main)
// and checks that data races (ThreadSanitizer builds) and heap leaks
// (AddressSanitizer builds) fail exactly the tests that caused them. Each
// check runs only in the build that can detect the problem, and skips
// itself elsewhere.

#include <fstream>
#include <string>
#include <vector>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/testing/testutil/subprocess.h"

namespace taskleak {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

#ifdef ABSL_HAVE_THREAD_SANITIZER
constexpr bool kTsan = true;
#else
constexpr bool kTsan = false;
#endif
#ifdef ABSL_HAVE_ADDRESS_SANITIZER
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif

#define REQUIRE_TSAN()                                                    \
  if (!kTsan) {                                                           \
    GTEST_SKIP() << "races are detected only in a ThreadSanitizer build " \
                    "(bazel test --config=tsan)";                         \
  }
#define REQUIRE_ASAN()                                                     \
  if (!kAsan) {                                                            \
    GTEST_SKIP() << "heap leaks are detected only in an AddressSanitizer " \
                    "build (bazel test --config=asan)";                    \
  }

constexpr char kSuite[] = "testing/testdata/sanitizer_suite";

internal::ProcessResult RunSuite(std::vector<std::string> args,
                                 std::vector<std::string> env = {}) {
  args.insert(args.begin(), kSuite);
  absl::StatusOr<internal::ProcessResult> result =
      internal::RunProcess(args, env);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : internal::ProcessResult{};
}

// The line of sanitizer_suite.cc that contains `code`.
int LineOf(const std::string& code) {
  std::ifstream in("testing/testdata/sanitizer_suite.cc");
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find(code) != std::string::npos) return n;
  }
  ADD_FAILURE() << "no '" << code << "' in sanitizer_suite.cc";
  return -1;
}

std::string Failed(const std::string& test) {
  return absl::StrCat("[  FAILED  ] ", test);
}
std::string Passed(const std::string& test) {
  return absl::StrCat("[       OK ] ", test);
}

// TSan ends a process that reported anything with status 66 on its own;
// exitcode=0 shows the status taskleak and GoogleTest chose.
const char kTsanOwnStatusOff[] = "TSAN_OPTIONS=exitcode=0";

TEST(SanitizerListenerTest, RaceFailsTheTestDuringWhichItHappened) {
  REQUIRE_TSAN();
  internal::ProcessResult r =
      RunSuite({"--gtest_filter=Races.*"}, {kTsanOwnStatusOff});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const std::string bump = absl::StrCat(
      "BumpUnlocked((anonymous namespace)::Counter*) at "
      "testing/testdata/sanitizer_suite.cc:",
      LineOf("counter->hits++;"));
  EXPECT_THAT(
      r.output,
      AllOf(HasSubstr(Failed("Races.UnsynchronizedCounter")),
            HasSubstr(Passed("Races.LockedCounter")),
            // gcc reports the read of ++, clang the write.
            HasSubstr("taskleak: data race during "
                      "Races.UnsynchronizedCounter: "),
            HasSubstr(" of 4 bytes at 0x"), HasSubstr(" by thread T"),
            HasSubstr(" (bumper) / previous write by main "
                      "thread\n"),
            HasSubstr(bump), HasSubstr("location: heap block of 4 bytes")))
      << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr(Failed("Races.LockedCounter"))));
  // Both stacks, each starting in the racing function.
  size_t stacks = 0;
  for (size_t at = r.output.find(bump); at != std::string::npos;
       at = r.output.find(bump, at + 1)) {
    ++stacks;
  }
  EXPECT_GE(stacks, 2u) << r.output;
  // The failure is charged inside the test's own block.
  const size_t run = r.output.find("[ RUN      ] Races.UnsynchronizedCounter");
  const size_t failure = r.output.find("taskleak: data race during");
  const size_t failed = r.output.find(Failed("Races.UnsynchronizedCounter"));
  EXPECT_LT(run, failure);
  EXPECT_LT(failure, failed);
}

TEST(SanitizerListenerTest, RaceOutsideAnyTestFailsTheProgram) {
  REQUIRE_TSAN();
  internal::ProcessResult r =
      RunSuite({"--gtest_filter=Races.LockedCounter"},
               {"SANITIZER_SUITE_RACE_AT_START=1", kTsanOwnStatusOff});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output,
              AllOf(HasSubstr(Passed("Races.LockedCounter")),
                    HasSubstr("taskleak: 1 problem(s) outside any test:"),
                    HasSubstr("taskleak: data race outside any test (before "
                              "the first test): "),
                    HasSubstr("BumpUnlocked"),
                    HasSubstr("_GLOBAL__sub_I_sanitizer_suite.cc")))
      << r.output;
}

// A race found after the last test (here in a global environment's
// tear-down) reaches the CI annotations too: they are written after every
// listener's end of the program.
TEST(SanitizerListenerTest, RaceAfterTheLastTestIsAnnotated) {
  REQUIRE_TSAN();
  internal::ProcessResult r =
      RunSuite({"--gtest_filter=Races.LockedCounter"},
               {"SANITIZER_SUITE_RACE_AT_TEARDOWN=1", "GITHUB_ACTIONS=true",
                kTsanOwnStatusOff});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output,
              AllOf(HasSubstr("taskleak: data race outside any test (after "
                              "the last test): "),
                    HasSubstr("::error "), HasSubstr("data race")))
      << r.output;
  // The twin: no race, no annotation.
  internal::ProcessResult quiet =
      RunSuite({"--gtest_filter=Races.LockedCounter"},
               {"GITHUB_ACTIONS=true", kTsanOwnStatusOff});
  EXPECT_EQ(quiet.exit_code, 0) << quiet.output;
  EXPECT_THAT(quiet.output, Not(HasSubstr("::error "))) << quiet.output;
}

TEST(SanitizerListenerTest, RacesOnlyWarnInWarnModeAndAreOffOnRequest) {
  REQUIRE_TSAN();
  internal::ProcessResult warn = RunSuite(
      {"--gtest_filter=Races.*", "--taskleak_mode=warn"}, {kTsanOwnStatusOff});
  EXPECT_EQ(warn.exit_code, 0) << warn.output;
  EXPECT_THAT(warn.output, HasSubstr("taskleak: warning: data race during "
                                     "Races.UnsynchronizedCounter"));
  internal::ProcessResult off =
      RunSuite({"--gtest_filter=Races.*"},
               {"TASKLEAK_CHECK=threads", kTsanOwnStatusOff});
  EXPECT_EQ(off.exit_code, 0) << off.output;
  // TSan still prints its own report.
  EXPECT_THAT(off.output, AllOf(HasSubstr("WARNING: ThreadSanitizer"),
                                Not(HasSubstr("taskleak: data race"))));
}

TEST(SanitizerListenerTest, HeapLeakFailsTheTestThatLeakedIt) {
  REQUIRE_ASAN();
  internal::ProcessResult r = RunSuite({"--gtest_filter=Heap.*"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const std::string make_list = absl::StrCat(
      "(anonymous namespace)::MakeList(int) at "
      "testing/testdata/sanitizer_suite.cc:",
      LineOf("head = new Node"));
  EXPECT_THAT(
      r.output,
      AllOf(HasSubstr(Failed("Heap.ForgetsAList")),
            HasSubstr(absl::StrCat(
                "taskleak: heap leak during Heap.ForgetsAList: 48 bytes in 3 "
                "blocks (1 direct, 2 indirect) allocated in ",
                make_list)),
            HasSubstr("direct leak of 16 bytes in 1 block (0x"),
            HasSubstr("indirect leak of 32 bytes in 2 blocks"),
            HasSubstr("Heap_ForgetsAList_Test::TestBody()"),
            HasSubstr("taskleak: note: heap check skipped for "
                      "Heap.SkipsTheCheck, which leaked 16 bytes in 1 block")))
      << r.output;
  // Each leak is blamed once: later tests pass.
  for (const char* clean :
       {"Heap.FreesItsList", "Heap.SkipsTheCheck", "Heap.KeepsAGlobalList",
        "Heap.RunsAfterTheLeaks"}) {
    EXPECT_THAT(r.output, HasSubstr(Passed(clean))) << r.output;
    EXPECT_THAT(r.output, Not(HasSubstr(Failed(clean)))) << r.output;
  }
  // LeakSanitizer's own report went to taskleak, not to the output.
  EXPECT_THAT(r.output, Not(HasSubstr("ERROR: LeakSanitizer")));
}

TEST(SanitizerListenerTest, HeapLeaksWithoutBlockAddressesAreToldApartByStack) {
  REQUIRE_ASAN();
  internal::ProcessResult r =
      RunSuite({"--gtest_filter=Heap.*"}, {"LSAN_OPTIONS=report_objects=0"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output,
              AllOf(HasSubstr(Failed("Heap.ForgetsAList")),
                    HasSubstr("heap leak during Heap.ForgetsAList: 48 bytes in "
                              "3 blocks (1 direct, 2 indirect)"),
                    HasSubstr(Passed("Heap.RunsAfterTheLeaks")),
                    Not(HasSubstr(Failed("Heap.RunsAfterTheLeaks")))))
      << r.output;
}

TEST(SanitizerListenerTest, HeapCheckIsOffOnRequest) {
  REQUIRE_ASAN();
  internal::ProcessResult r =
      RunSuite({"--gtest_filter=Heap.ForgetsAList:Heap.FreesItsList",
                "--taskleak_check=threads,tasks"},
               // Without taskleak, LeakSanitizer reports at exit.
               {"LSAN_OPTIONS=exitcode=0"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, AllOf(HasSubstr(Passed("Heap.ForgetsAList")),
                              Not(HasSubstr("taskleak: heap leak"))));
}

TEST(SanitizerListenerTest, ChecksThisBuildCannotDoSayWhy) {
  const char* check = kTsan ? "heap" : "races";
  internal::ProcessResult r =
      RunSuite({"--gtest_filter=Races.LockedCounter:Heap.FreesItsList",
                absl::StrCat("--taskleak_check=threads,", check)});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("taskleak: --taskleak_check=",
                                               check, " is unavailable, ")))
      << r.output;
  EXPECT_THAT(r.output, HasSubstr(kTsan ? "is not built with LeakSanitizer"
                                        : "is not built with ThreadSanitizer"));
}

TEST(SanitizerListenerTest, WithoutSanitizersNothingIsChecked) {
  if (kTsan || kAsan) GTEST_SKIP() << "this build has a sanitizer";
  internal::ProcessResult r = RunSuite({"--gtest_filter=Races.*:Heap.*"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, AllOf(Not(HasSubstr("taskleak:")),
                              HasSubstr(Passed("Races.UnsynchronizedCounter")),
                              HasSubstr(Passed("Heap.ForgetsAList"))))
      << r.output;
}

}  // namespace
}  // namespace taskleak
