// taskleak's bookkeeping must hide no race from ThreadSanitizer. Runs each
// race of testing/testdata/hidden_race_suite.cc in its own process, built
// with taskleak's gtest_main and with GoogleTest's, and expects TSan to
// report it with either main (and taskleak to fail the test during which it
// happened); each synchronized twin stays quiet. Before HiddenFromTsan the
// thread registry, the stack capture and the task registry created
// happens-before edges that hid these races.

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/base/config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/testing/testutil/subprocess.h"

namespace taskleak {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kRace[] = "WARNING: ThreadSanitizer: data race";

struct Case {
  // --gtest_filter for the run; the race (if any) happens in `failing`.
  const char* filter;
  const char* failing;  // Null for a synchronized twin.
  // Run ours with --taskleak_timeline, whose recording must order nothing.
  bool timeline = false;
  // And with --taskleak_grace_overlap, whose deferred checks must not either.
  bool overlap = false;
};

class TsanNeutralTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
#ifndef ABSL_HAVE_THREAD_SANITIZER
    GTEST_SKIP() << "races are reported only in a ThreadSanitizer build "
                    "(bazel test --config=tsan)";
#endif
  }

  static internal::ProcessResult Run(const std::string& binary,
                                     const char* filter, bool timeline = false,
                                     bool overlap = false) {
    // Keeps the options --config=tsan sets (history_size among them); TSan's
    // own exit status (66) would hide the one the mains chose.
    const char* inherited = getenv("TSAN_OPTIONS");
    std::vector<std::string> env = {
        absl::StrCat("TSAN_OPTIONS=", inherited != nullptr ? inherited : "",
                     ":halt_on_error=0:exitcode=0")};
    if (timeline) {
      const char* tmp = getenv("TEST_TMPDIR");
      env.push_back("TASKLEAK_TIMELINE=1");
      env.push_back(absl::StrCat("TASKLEAK_REPORT_DIR=", tmp ? tmp : "/tmp"));
    }
    // Every detached thread here ends within 300 ms, and the check stops
    // waiting as soon as it has: a long grace only keeps a loaded machine,
    // where TSan's own report can take seconds, from ending the window
    // before the race is reported (it would then land in the next test).
    std::vector<std::string> args = {binary,
                                     absl::StrCat("--gtest_filter=", filter)};
    if (!absl::EndsWith(binary, "_plain"))
      args.push_back("--taskleak_grace=30s");
    if (overlap) args.push_back("--taskleak_grace_overlap");
    absl::StatusOr<internal::ProcessResult> result =
        internal::RunProcess(args, env);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : internal::ProcessResult{};
  }
};

TEST_P(TsanNeutralTest, FindsWhatGoogleTestsMainFinds) {
  const Case& c = GetParam();
  const internal::ProcessResult plain =
      Run("testing/testdata/hidden_race_suite_plain", c.filter);
  const internal::ProcessResult ours = Run("testing/testdata/hidden_race_suite",
                                           c.filter, c.timeline, c.overlap);
  if (c.failing == nullptr) {
    EXPECT_THAT(plain.output, Not(HasSubstr("ThreadSanitizer")))
        << plain.output;
    EXPECT_THAT(ours.output, Not(HasSubstr("ThreadSanitizer"))) << ours.output;
    EXPECT_EQ(ours.exit_code, 0) << ours.output;
    return;
  }
  EXPECT_THAT(plain.output, HasSubstr(kRace)) << plain.output;
  EXPECT_THAT(ours.output, HasSubstr(kRace)) << ours.output;
  EXPECT_THAT(ours.output,
              HasSubstr(absl::StrCat("taskleak: data race during ", c.failing)))
      << ours.output;
  EXPECT_THAT(ours.output, HasSubstr(absl::StrCat("[  FAILED  ] ", c.failing)))
      << ours.output;
  EXPECT_EQ(ours.exit_code, 1) << ours.output;
  // Both accesses' stacks, with taskleak's polling between them.
  EXPECT_THAT(ours.output, Not(HasSubstr("failed to restore the stack")))
      << ours.output;
}

INSTANTIATE_TEST_SUITE_P(
    Races, TsanNeutralTest,
    ::testing::Values(
        // The simplest case: two threads bump a global counter.
        Case{"Counter.Unsynchronized", "Counter.Unsynchronized"},
        Case{"Counter.Locked", nullptr},
        // The thread registry: one thread's exit, the next one's creation.
        Case{"ThreadAfterThread.Unsynchronized",
             "ThreadAfterThread.Unsynchronized"},
        Case{"ThreadAfterThread.Joined", nullptr},
        // Stack capture and the registry during the grace window.
        Case{"GraceWindow.DetachedWriter:GraceWindow.MainReadsLater",
             "GraceWindow.MainReadsLater"},
        Case{"GraceWindow.DetachedLockedWriter:GraceWindow.MainReadsLater",
             nullptr},
        // The same while the writer's test does not wait for it.
        Case{"GraceWindow.DetachedWriter:GraceWindow.MainReadsLater",
             "GraceWindow.MainReadsLater", false, true},
        Case{"GraceWindow.DetachedLockedWriter:GraceWindow.MainReadsLater",
             nullptr, false, true},
        // TSan's history must still hold the main thread's earlier access
        // after the thread check's polling.
        Case{"History.*", "History.MainWritesBeforeTheGraceWindow"},
        // The task registry's shard lock: Reset() vs the next RegisterTask.
        Case{"Tasks.Unsynchronized", "Tasks.Unsynchronized"},
        Case{"Tasks.Locked", nullptr},
        // The timeline's lock: one thread's task end, the other's.
        Case{"TaskEnds.Unsynchronized", "TaskEnds.Unsynchronized", true},
        Case{"TaskEnds.Locked", nullptr, true}),
    [](const ::testing::TestParamInfo<Case>& info) {
      std::string name = info.param.failing != nullptr ? info.param.failing
                                                       : info.param.filter;
      name = name.substr(0, name.find(':'));
      for (char& ch : name) {
        if (ch == '.') ch = '_';
      }
      return info.param.overlap ? name + "_Overlap" : name;
    });

}  // namespace
}  // namespace taskleak
