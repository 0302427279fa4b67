// Runs testing/testdata/leaky_suite (built with //testing:gtest_main) and
// checks that exactly the leaking tests fail, with reports people can act on.

#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/testing/testutil/subprocess.h"
#include "taskleak/testing/testutil/test_files.h"

namespace taskleak {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kSuite[] = "testing/testdata/leaky_suite";

internal::ProcessResult RunSuite(std::vector<std::string> args,
                                 std::vector<std::string> env = {}) {
  args.insert(args.begin(), kSuite);
  // Short grace keeps the suite fast; tests that need a flag pass it later,
  // and the last occurrence wins.
  args.insert(args.begin() + 1, "--taskleak_grace=300ms");
  absl::StatusOr<internal::ProcessResult> result =
      internal::RunProcess(args, env);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : internal::ProcessResult{};
}

std::string TempDir() { return internal::MakeTempDir("reports"); }

// The line of leaky_suite.cc where the leaked threads are started.
int ThreadStartLine() {
  return internal::LineContaining("testing/testdata/leaky_suite.cc",
                                  "// THREAD-START-LINE");
}

std::string Failed(const std::string& test) {
  return absl::StrCat("[  FAILED  ] ", test);
}
std::string Passed(const std::string& test) {
  return absl::StrCat("[       OK ] ", test);
}

TEST(GoogleTestListenerTest, OnlyTheLeakingTestsFail) {
  internal::ProcessResult r = RunSuite({});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  for (const char* leaking :
       {"Leaky.DetachedWorker", "Unnamed.Worker",
        "Lazy.SchedulesOnTheSharedPool", "Tasks.NeverCancelledTimer",
        "Numbers/LeakOnOdd.Worker/1", "Late.ThreadOutlivesItsWindow"}) {
    EXPECT_THAT(r.output, HasSubstr(Failed(leaking))) << r.output;
  }
  for (const char* clean :
       {"Clean.JoinsItsThread", "Leaky.SkipsTheCheck", "Leaky.ToleratesOne",
        "Leaky.IgnoresByName", "Lingering.EndsWithinTheGrace",
        "Lingering.AllowedExtraTime", "Lingering.AfterAllowedExtraTime",
        "Late.TakesAWhile", "Late.RunsOn", "Numbers/LeakOnOdd.Worker/0",
        "Typed/0.JoinsItsThread", "Typed/1.JoinsItsThread",
        "ForkDeathTest.ChildIsNotChecked", "SuiteStartsWorker.First",
        "SuiteStartsWorker.Second", "SuiteTearDownStartsWorker.Test",
        "SuiteStopsItsWorker.First", "SuiteStopsItsWorker.Second"}) {
    EXPECT_THAT(r.output, HasSubstr(Passed(clean))) << r.output;
    EXPECT_THAT(r.output, Not(HasSubstr(Failed(clean)))) << r.output;
  }
  EXPECT_THAT(r.output, HasSubstr("[  SKIPPED ] Skipped.SkipsCleanly"));
  EXPECT_THAT(r.output, Not(HasSubstr("death-child")));
}

TEST(GoogleTestListenerTest, ReportSaysWhatWhereAndWhoStartedIt) {
  internal::ProcessResult r = RunSuite({"--gtest_filter=Leaky.DetachedWorker"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(
      r.output,
      AllOf(HasSubstr("leaky_suite.cc"),
            HasSubstr("1 thread started by Leaky.DetachedWorker is "
                      "still running after 300ms: leaky-worker"),
            HasSubstr("BlockForever()"), HasSubstr("StartWorker(char const*)"),
            HasSubstr(absl::StrCat("leaky_suite.cc:", ThreadStartLine()))))
      << r.output;
  // The failure is charged inside the test's own block.
  const size_t failure = r.output.find("taskleak: 1 thread started by");
  const size_t run = r.output.find("[ RUN      ] Leaky.DetachedWorker");
  const size_t failed = r.output.find(Failed("Leaky.DetachedWorker"));
  EXPECT_LT(run, failure);
  EXPECT_LT(failure, failed);
}

// A thread that SetUpTestSuite starts and nothing stops, or that
// TearDownTestSuite leaves, fails the suite, not a test: GoogleTest lists
// it as "Suite: SetUpTestSuite or TearDownTestSuite".
TEST(GoogleTestListenerTest, ThreadLeftBySuiteSetUpOrTearDownFailsTheSuite) {
  internal::ProcessResult r = RunSuite(
      {"--gtest_filter=SuiteStartsWorker.*:SuiteTearDownStartsWorker.*"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(
      r.output,
      AllOf(HasSubstr("1 thread started by SuiteStartsWorker.SetUpTestSuite "
                      "is still running after 300ms: suite-worker"),
            HasSubstr("1 thread started by "
                      "SuiteTearDownStartsWorker.TearDownTestSuite is still "
                      "running after 300ms: teardown-worker"),
            HasSubstr(Failed("SuiteStartsWorker: SetUpTestSuite or "
                             "TearDownTestSuite")),
            HasSubstr(Failed("SuiteTearDownStartsWorker: SetUpTestSuite or "
                             "TearDownTestSuite"))))
      << r.output;
  for (const char* test :
       {"SuiteStartsWorker.First", "SuiteStartsWorker.Second",
        "SuiteTearDownStartsWorker.Test"}) {
    EXPECT_THAT(r.output, HasSubstr(Passed(test))) << r.output;
    EXPECT_THAT(r.output, Not(HasSubstr(Failed(test)))) << r.output;
  }
  // Each thread is reported once.
  const std::vector<std::string> pieces =
      absl::StrSplit(r.output, "is still running after");
  EXPECT_EQ(pieces.size(), 3u) << r.output;
}

TEST(GoogleTestListenerTest, ThreadTheSuiteStopsInTearDownIsNoLeak) {
  internal::ProcessResult r =
      RunSuite({"--gtest_filter=SuiteStopsItsWorker.*"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output,
              AllOf(HasSubstr(Passed("SuiteStopsItsWorker.First")),
                    HasSubstr(Passed("SuiteStopsItsWorker.Second")),
                    Not(HasSubstr("taskleak:")), Not(HasSubstr("FAILED"))))
      << r.output;
}

TEST(GoogleTestListenerTest, UnnamedThreadIsShownAsUnnamedWithItsTid) {
  internal::ProcessResult r = RunSuite({"--gtest_filter=Unnamed.Worker"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output,
              AllOf(HasSubstr("1 thread started by Unnamed.Worker is "
                              "still running after 300ms: unnamed thread "),
                    Not(HasSubstr("after 300ms: leaky_suite")),
                    // Started by the test body: no flag is suggested.
                    Not(HasSubstr("--taskleak_ignore_created_by"))))
      << r.output;
}

// The report's last line names the flag that accepts the thread, at the
// frame that created it; the flag and its environment twin then do.
TEST(GoogleTestListenerTest, LazyPoolReportSuggestsTheFlagThatAcceptsIt) {
  constexpr char kFlag[] = "--taskleak_ignore_created_by=LazyPool::Schedule";
  internal::ProcessResult r =
      RunSuite({"--gtest_filter=Lazy.SchedulesOnTheSharedPool"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const size_t failure = r.output.find("taskleak: 1 thread started by");
  const size_t hint = r.output.find(kFlag);
  const size_t failed = r.output.find(Failed("Lazy.SchedulesOnTheSharedPool"));
  ASSERT_NE(hint, std::string::npos) << r.output;
  EXPECT_LT(failure, hint);
  EXPECT_LT(hint, failed);
  // Nothing of the report follows the hint.
  EXPECT_EQ(r.output.find("thread ", hint), std::string::npos) << r.output;

  internal::ProcessResult accepted =
      RunSuite({"--gtest_filter=Lazy.SchedulesOnTheSharedPool", kFlag});
  EXPECT_EQ(accepted.exit_code, 0) << accepted.output;
  internal::ProcessResult from_env =
      RunSuite({"--gtest_filter=Lazy.SchedulesOnTheSharedPool"},
               {"TASKLEAK_IGNORE_CREATED_BY=LazyPool::Schedule"});
  EXPECT_EQ(from_env.exit_code, 0) << from_env.output;
  // Accepting the pool's creator accepts nothing else.
  internal::ProcessResult other =
      RunSuite({"--gtest_filter=Lazy.*:Leaky.DetachedWorker", kFlag});
  EXPECT_EQ(other.exit_code, 1) << other.output;
  EXPECT_THAT(other.output, HasSubstr(Failed("Leaky.DetachedWorker")));
  EXPECT_THAT(other.output, HasSubstr(Passed("Lazy.SchedulesOnTheSharedPool")));
}

internal::ProcessResult RunFdSuite(const std::string& filter) {
  absl::StatusOr<internal::ProcessResult> result = internal::RunProcess(
      {"testing/testdata/fd_suite", "--taskleak_check=threads,fds",
       "--taskleak_grace=300ms", absl::StrCat("--gtest_filter=", filter)});
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : internal::ProcessResult{};
}

// Judging a new thread symbolizes its creation stack, which opens the
// program, libc, libstdc++ and their debug files: taskleak's, not the
// test's. Each test runs alone too, so that it is the first to symbolize.
TEST(GoogleTestListenerTest, FdCheckDoesNotBlameOurOwnDescriptors) {
  for (const char* quiet : {"Quiet.ThreadEndsWithinTheGrace",
                            "Quiet.IgnoredThread", "Quiet.ClosesWhatItOpens"}) {
    for (const std::string& filter :
         {std::string(quiet), std::string("Quiet.*")}) {
      internal::ProcessResult r = RunFdSuite(filter);
      EXPECT_EQ(r.exit_code, 0) << r.output;
      EXPECT_THAT(r.output, AllOf(HasSubstr(Passed(quiet)),
                                  Not(HasSubstr("file descriptor"))))
          << r.output;
    }
  }
}

// The twin: a test's own descriptors are reported with what they are, even
// the very file the symbolizer has open, and whether or not it is open yet.
TEST(GoogleTestListenerTest, FdCheckReportsTheTestsOwnDescriptors) {
  for (const std::string& filter :
       {std::string("Leaks.TheLibcTheSymbolizerReadsToo"),
        std::string("Quiet.*:Leaks.*")}) {
    internal::ProcessResult r = RunFdSuite(filter);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_THAT(r.output,
                AllOf(HasSubstr("1 file descriptor opened by "
                                "Leaks.TheLibcTheSymbolizerReadsToo is still "
                                "open: "),
                      HasSubstr("libc.so.6\n")))
        << r.output;
    if (filter == "Leaks.TheLibcTheSymbolizerReadsToo") continue;
    EXPECT_THAT(r.output,
                AllOf(HasSubstr("2 file descriptors opened by Leaks.APipe are "
                                "still open: "),
                      HasSubstr("-> pipe:["),
                      HasSubstr("1 file descriptor opened by "
                                "Leaks.TheProgramItself is still open: "),
                      HasSubstr(Passed("Quiet.ThreadEndsWithinTheGrace"))))
        << r.output;
  }
}

// A "threadsafe" death test runs the program again for its statement; that
// child starts nothing of ours (on main it loaded libunwind and installed
// the SIGTERM/SIGQUIT dump handlers). The parent's checks are unchanged.
TEST(GoogleTestListenerTest, DeathTestChildStartsNothingParentStillChecks) {
  absl::StatusOr<internal::ProcessResult> result = internal::RunProcess(
      {"testing/testdata/death_suite", "--taskleak_grace=300ms",
       "--taskleak_test_timeout=60s"});
  ASSERT_TRUE(result.ok()) << result.status();
  const internal::ProcessResult& r = *result;
  EXPECT_EQ(r.exit_code, 1) << r.output;
  for (const char* passed : {"DeathTestChild.ExitsTwentyTimes",
                             "DeathTestChild.StartsNothingOfTaskleaks",
                             "DeathTestChild.LeakInTheStatementIsNotBlamed"}) {
    EXPECT_THAT(r.output, HasSubstr(Passed(passed))) << r.output;
  }
  EXPECT_THAT(
      r.output,
      AllOf(HasSubstr(Failed("DeathTestChild.ParentLeaksAfterTheDeathTest")),
            HasSubstr("1 thread started by "
                      "DeathTestChild.ParentLeaksAfterTheDeathTest is "
                      "still running after 300ms")))
      << r.output;
}

TEST(GoogleTestListenerTest, FailureIsInTheXmlOutput) {
  const std::string xml = TempDir() + "/out.xml";
  internal::ProcessResult r =
      RunSuite({"--gtest_filter=Leaky.DetachedWorker:Clean.*",
                "--gtest_output=xml:" + xml});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const std::string text = internal::ReadFile(xml);
  EXPECT_THAT(text, HasSubstr("<failure message="));
  EXPECT_THAT(text, HasSubstr("still running after 300ms: leaky-worker"));
  EXPECT_THAT(text, HasSubstr("name=\"JoinsItsThread\""));
}

TEST(GoogleTestListenerTest, ReportFilesAndSummaryAreWritten) {
  const std::string dir = TempDir();
  internal::ProcessResult r = RunSuite(
      {"--gtest_filter=Leaky.*:Tasks.*", "--taskleak_report_dir=" + dir});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(internal::ReadFile(dir + "/taskleak-Leaky.DetachedWorker.txt"),
              HasSubstr("leaky-worker"));
  EXPECT_THAT(internal::ReadFile(dir + "/taskleak-Leaky.DetachedWorker.json"),
              HasSubstr("\"scope\":\"Leaky.DetachedWorker\""));
  EXPECT_THAT(
      internal::ReadFile(dir + "/taskleak-Tasks.NeverCancelledTimer.json"),
      HasSubstr("\"kind\":\"timer\""));
  // Pictures of the leaked threads: a gzip pprof profile and a flame graph
  // (decoded and rendered by runtime/pprof_profile_test, flame_graph_test).
  EXPECT_THAT(
      internal::ReadFile(dir + "/taskleak-Leaky.DetachedWorker-threads.pb.gz"),
      StartsWith("\x1f\x8b"));
  EXPECT_THAT(
      internal::ReadFile(dir + "/taskleak-Leaky.DetachedWorker-threads.svg"),
      AllOf(HasSubstr("<svg"),
            HasSubstr("left running by Leaky.DetachedWorker"),
            HasSubstr("leaky_suite.cc")));
  // A test that leaked only tasks has no threads to draw.
  EXPECT_EQ(internal::ReadFile(
                dir + "/taskleak-Tasks.NeverCancelledTimer-threads.svg"),
            "");
  const std::string summary = internal::ReadFile(dir + "/taskleak-summary.txt");
  EXPECT_THAT(summary, HasSubstr("2 test(s) leaked"));
  EXPECT_THAT(summary, Not(HasSubstr("SkipsTheCheck")));
  EXPECT_THAT(internal::ReadFile(dir + "/taskleak-summary.json"),
              HasSubstr("\"test\":\"Leaky.DetachedWorker\""));
}

// Library frames are named from the symbol table unless every frame is to
// have lines: the JSON says which, and the program's frames have lines
// either way.
TEST(GoogleTestListenerTest, SymbolizeAllGivesLibraryFramesLinesToo) {
  const std::string fast_dir = TempDir();
  RunSuite({"--gtest_filter=Leaky.DetachedWorker",
            "--taskleak_report_dir=" + fast_dir});
  const std::string fast =
      internal::ReadFile(fast_dir + "/taskleak-Leaky.DetachedWorker.json");
  EXPECT_THAT(fast, AllOf(HasSubstr("\"names_only\":true"),
                          HasSubstr("testing/testdata/leaky_suite.cc"),
                          Not(HasSubstr("\"file\":\"./nptl/"))));
  const std::string all_dir = TempDir();
  RunSuite({"--gtest_filter=Leaky.DetachedWorker", "--taskleak_symbolize=all",
            "--taskleak_report_dir=" + all_dir});
  const std::string all =
      internal::ReadFile(all_dir + "/taskleak-Leaky.DetachedWorker.json");
  EXPECT_THAT(all, AllOf(Not(HasSubstr("\"names_only\":true")),
                         HasSubstr("testing/testdata/leaky_suite.cc")));
  if (!absl::StrContains(all, "\"file\":\"./nptl/")) {
    GTEST_SKIP() << "no DWARF for libc on this machine (libc6-dbg): " << all;
  }
}

// Bazel names a workspace header "./pkg/header.h" in DWARF: a thread parked
// in a function defined there is shown at that frame, not folded away as a
// library's (as glibc's "./nptl/..." frames are).
TEST(GoogleTestListenerTest, ThreadParkedInAHeaderFunctionIsShownThere) {
  const int line = internal::LineContaining(
      "testing/testdata/parked_in_header.h", "// PARK-LINE");
  absl::StatusOr<internal::ProcessResult> r = internal::RunProcess(
      {"testing/testdata/header_suite", "--taskleak_grace=100ms"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 1) << r->output;
  EXPECT_THAT(r->output,
              HasSubstr(absl::StrCat("header_suite::ParkInHeader() at "
                                     "./testing/testdata/parked_in_header.h:",
                                     line)))
      << r->output;
}

TEST(GoogleTestListenerTest, UndeclaredOutputsDirIsTheDefault) {
  const std::string dir = TempDir();
  internal::ProcessResult r = RunSuite({"--gtest_filter=Leaky.DetachedWorker"},
                                       {"TEST_UNDECLARED_OUTPUTS_DIR=" + dir});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(internal::ReadFile(dir + "/taskleak-Leaky.DetachedWorker.txt"),
              HasSubstr("leaky-worker"));
}

TEST(GoogleTestListenerTest, GithubAnnotationPointsAtTheCreationSite) {
  internal::ProcessResult r = RunSuite({"--gtest_filter=Leaky.DetachedWorker"},
                                       {"GITHUB_ACTIONS=true"});
  EXPECT_THAT(r.output,
              HasSubstr(absl::StrCat(
                  "::error file=testing/testdata/leaky_suite.cc,line=",
                  ThreadStartLine(),
                  ",title=taskleak%3A thread leak in Leaky.DetachedWorker::1 "
                  "thread (\"leaky-worker\") started here")))
      << r.output;
  internal::ProcessResult quiet = RunSuite(
      {"--gtest_filter=Leaky.DetachedWorker"}, {"GITHUB_ACTIONS=false"});
  EXPECT_THAT(quiet.output, Not(HasSubstr("::error")));
}

// The job summary and annotations as the composite action produces them:
// the binary writes its table (to its outputs and to $GITHUB_STEP_SUMMARY
// when set), and the action's ci/github-action/summarize.sh gathers the
// tables of every test's outputs into the job summary.
TEST(GoogleTestListenerTest, GithubActionSummaryAndAnnotations) {
  const std::string dir = TempDir();
  const std::string outputs = dir + "/testlogs/leaky/test.outputs";
  ASSERT_EQ(system(absl::StrCat("mkdir -p ", outputs).c_str()), 0);
  internal::ProcessResult r =
      RunSuite({"--gtest_filter=Leaky.*:Tasks.*:Numbers/*"},
               {"GITHUB_ACTIONS=true", "TEST_TARGET=//testing:leaky_suite",
                "TEST_UNDECLARED_OUTPUTS_DIR=" + outputs,
                "GITHUB_STEP_SUMMARY=" + dir + "/direct.md"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  // One annotation per group, after the tests, the threads first.
  std::vector<std::string> errors;
  for (absl::string_view line : absl::StrSplit(r.output, '\n')) {
    if (absl::StartsWith(line, "::error ")) errors.emplace_back(line);
  }
  ASSERT_EQ(errors.size(), 3u) << r.output;
  EXPECT_THAT(errors[0], HasSubstr("thread leak in Leaky.DetachedWorker::"));
  EXPECT_THAT(errors[1],
              HasSubstr("thread leak in Numbers/LeakOnOdd.Worker/1"));
  EXPECT_THAT(errors[2], HasSubstr("task leak in Tasks.NeverCancelledTimer"));
  const std::string row = absl::StrCat(
      "| Leaky.DetachedWorker | thread leak | "
      "`testing/testdata/leaky_suite.cc:",
      ThreadStartLine(), "` | 1 | `taskleak-Leaky.DetachedWorker.txt` |");
  const std::string table =
      internal::ReadFile(outputs + "/taskleak-summary.md");
  EXPECT_THAT(table,
              AllOf(StartsWith("### taskleak: 3 findings in "
                               "`//testing:leaky_suite`"),
                    HasSubstr(row),
                    HasSubstr("| Tasks.NeverCancelledTimer | task leak")));
  EXPECT_EQ(internal::ReadFile(dir + "/direct.md"), table);

  absl::StatusOr<internal::ProcessResult> action = internal::RunProcess(
      {"/bin/bash", "ci/github-action/summarize.sh", dir + "/testlogs"},
      {"GITHUB_ACTIONS=true", "GITHUB_STEP_SUMMARY=" + dir + "/step.md"});
  ASSERT_TRUE(action.ok()) << action.status();
  EXPECT_EQ(action->exit_code, 0) << action->output;
  EXPECT_THAT(action->output,
              HasSubstr("::notice title=taskleak::3 finding(s) in 1 test "
                        "binary(ies); 4 profile/flame graph/timeline file(s)"));
  const std::string step = internal::ReadFile(dir + "/step.md");
  EXPECT_THAT(step, AllOf(StartsWith(table), HasSubstr("go tool pprof")));
  EXPECT_LT(step.size(), 1024u * 1024);

  absl::StatusOr<internal::ProcessResult> bad = internal::RunProcess(
      {"/bin/bash", "ci/github-action/summarize.sh", dir + "/missing"});
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->exit_code, 2);
  EXPECT_THAT(bad->output, HasSubstr("no report directory"));
}

// --taskleak_mode=warn reports without failing: the same annotations, as
// warnings, and the same job summary.
TEST(GoogleTestListenerTest, GithubAnnotationsAreWarningsInWarnMode) {
  const std::string dir = TempDir();
  internal::ProcessResult r = RunSuite(
      {"--gtest_filter=Leaky.*:Tasks.*:Numbers/*", "--taskleak_mode=warn",
       "--taskleak_report_dir=" + dir},
      {"GITHUB_ACTIONS=true", "GITHUB_STEP_SUMMARY=" + dir + "/step.md"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> warnings;
  for (absl::string_view line : absl::StrSplit(r.output, '\n')) {
    if (absl::StartsWith(line, "::warning ")) warnings.emplace_back(line);
  }
  ASSERT_EQ(warnings.size(), 3u) << r.output;
  EXPECT_THAT(
      warnings[0],
      HasSubstr(absl::StrCat(
          "file=testing/testdata/leaky_suite.cc,line=", ThreadStartLine(),
          ",title=taskleak%3A thread leak in "
          "Leaky.DetachedWorker::")));
  EXPECT_THAT(warnings[2], HasSubstr("task leak in Tasks.NeverCancelledTimer"));
  EXPECT_THAT(r.output, Not(HasSubstr("::error")));
  EXPECT_THAT(internal::ReadFile(dir + "/step.md"),
              AllOf(HasSubstr("### taskleak: 3 findings in"),
                    HasSubstr("| Leaky.DetachedWorker | thread leak | ")));
}

TEST(GoogleTestListenerTest, RepeatBlamesEachIteration) {
  internal::ProcessResult r =
      RunSuite({"--gtest_filter=Leaky.DetachedWorker", "--gtest_repeat=2"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  size_t count = 0;
  for (size_t pos = 0; (pos = r.output.find("1 thread started by Leaky.Detac",
                                            pos)) != std::string::npos;
       ++pos) {
    ++count;
  }
  EXPECT_EQ(count, 2u) << r.output;
}

TEST(GoogleTestListenerTest, ShuffleStillBlamesTheRightTest) {
  for (const char* seed : {"1", "2", "3"}) {
    internal::ProcessResult r = RunSuite(
        {"--gtest_filter=Leaky.DetachedWorker:Clean.*:Typed*",
         "--gtest_shuffle", absl::StrCat("--gtest_random_seed=", seed)});
    EXPECT_THAT(r.output, HasSubstr(Failed("Leaky.DetachedWorker")));
    EXPECT_THAT(r.output, Not(HasSubstr(Failed("Clean.JoinsItsThread"))));
    EXPECT_THAT(r.output, Not(HasSubstr(Failed("Typed/"))));
  }
}

TEST(GoogleTestListenerTest, ShardsTogetherBlameTheSameTests) {
  std::string failures;
  for (const char* index : {"0", "1"}) {
    internal::ProcessResult r = RunSuite(
        {"--gtest_filter=Leaky.*:Clean.*:Tasks.*"},
        {"GTEST_TOTAL_SHARDS=2", absl::StrCat("GTEST_SHARD_INDEX=", index)});
    failures += r.output;
  }
  EXPECT_THAT(failures, HasSubstr(Failed("Leaky.DetachedWorker")));
  EXPECT_THAT(failures, HasSubstr(Failed("Tasks.NeverCancelledTimer")));
  EXPECT_THAT(failures, Not(HasSubstr(Failed("Clean.JoinsItsThread"))));
}

// --taskleak_grace_overlap: a test returns while its threads still run,
// and a thread still alive when its window closes fails the run at its end,
// named with the test that started it.
TEST(GoogleTestListenerTest, GraceOverlapBlamesTheLeakAtTheRunsEnd) {
  const std::string xml = absl::StrCat(TempDir(), "/out.xml");
  internal::ProcessResult r = RunSuite(
      {"--gtest_filter=Leaky.DetachedWorker:Clean.*:Lingering.*",
       "--taskleak_grace_overlap", absl::StrCat("--gtest_output=xml:", xml)});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(
      r.output,
      AllOf(HasSubstr("found after Leaky.DetachedWorker ended "
                      "(--taskleak_grace_overlap): GoogleTest counts it "
                      "against the run, not the test"),
            HasSubstr("1 thread started by Leaky.DetachedWorker is "
                      "still running after 300ms: leaky-worker"),
            HasSubstr(absl::StrCat("leaky_suite.cc:", ThreadStartLine()))))
      << r.output;
  // Reported once, after the last test.
  const size_t report = r.output.find("found after Leaky.DetachedWorker");
  EXPECT_EQ(r.output.find("found after Leaky", report + 1), std::string::npos)
      << r.output;
  EXPECT_LT(r.output.find(Passed("Lingering.AfterAllowedExtraTime")), report);
  // And said again under GoogleTest's summary, which counts no failed test.
  EXPECT_THAT(r.output,
              HasSubstr("taskleak: the run fails: 1 leak found after the "
                        "tests ended (--taskleak_grace_overlap):\n  1 thread "
                        "started by Leaky.DetachedWorker"));
  EXPECT_LT(r.output.find("0 FAILED TESTS"),
            r.output.find("taskleak: the run fails"));
  // The threads that end within their windows are not reported.
  EXPECT_THAT(r.output, Not(HasSubstr("started by Lingering.")));
  EXPECT_THAT(r.output, HasSubstr("thread of the test before: running"));
  // GoogleTest's XML carries the failure too.
  EXPECT_THAT(internal::ReadFile(xml),
              HasSubstr("found after Leaky.DetachedWorker ended"));
}

// A thread that outlives its window is a leak even if it ends before the
// run does: it is seen at the next test's end, while it still runs.
TEST(GoogleTestListenerTest, GraceOverlapBlamesAThreadThatEndsLaterStill) {
  internal::ProcessResult r =
      RunSuite({"--gtest_filter=Late.*", "--taskleak_grace_overlap"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output,
              AllOf(HasSubstr("found after Late.ThreadOutlivesItsWindow ended"),
                    HasSubstr("1 thread started by "
                              "Late.ThreadOutlivesItsWindow is still running "
                              "after 300ms"),
                    HasSubstr(Passed("Late.RunsOn"))))
      << r.output;
}

// In warn mode the overlap's leaks are warnings too, and the run passes.
TEST(GoogleTestListenerTest, GraceOverlapWarnsInWarnMode) {
  internal::ProcessResult r =
      RunSuite({"--gtest_filter=Leaky.DetachedWorker",
                "--taskleak_grace_overlap", "--taskleak_mode=warn"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, AllOf(HasSubstr("taskleak: warning: found after "
                                        "Leaky.DetachedWorker ended"),
                              Not(HasSubstr("the run fails"))))
      << r.output;
}

// The twin: threads that end within their windows, after their tests, fail
// nothing; without the flag each test waits for its threads.
TEST(GoogleTestListenerTest, GraceOverlapPassesThreadsThatEndInTime) {
  internal::ProcessResult overlap =
      RunSuite({"--gtest_filter=Lingering.*", "--taskleak_grace_overlap"});
  EXPECT_EQ(overlap.exit_code, 0) << overlap.output;
  EXPECT_THAT(overlap.output, Not(HasSubstr("still running")));
  EXPECT_THAT(overlap.output, HasSubstr("thread of the test before: running"));
  internal::ProcessResult waits = RunSuite({"--gtest_filter=Lingering.*"});
  EXPECT_EQ(waits.exit_code, 0) << waits.output;
  EXPECT_THAT(waits.output, HasSubstr("thread of the test before: ended"));
}

TEST(GoogleTestListenerTest, WarnAndOffModesPass) {
  internal::ProcessResult warn =
      RunSuite({"--gtest_filter=Leaky.DetachedWorker", "--taskleak_mode=warn"});
  EXPECT_EQ(warn.exit_code, 0) << warn.output;
  EXPECT_THAT(warn.output, HasSubstr("taskleak: warning: 1 thread started"));
  internal::ProcessResult off =
      RunSuite({"--gtest_filter=Leaky.DetachedWorker"}, {"TASKLEAK_MODE=off"});
  EXPECT_EQ(off.exit_code, 0) << off.output;
  EXPECT_THAT(off.output, Not(HasSubstr("still running")));
}

TEST(GoogleTestListenerTest, BadFlagsStopBeforeAnyTestRuns) {
  internal::ProcessResult unknown = RunSuite({"--taskleak_gracee=1s"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.output,
              HasSubstr("unknown flag --taskleak_gracee; known flags:"));
  EXPECT_THAT(unknown.output, Not(HasSubstr("[ RUN      ]")));

  internal::ProcessResult malformed = RunSuite({"--taskleak_grace=soon"});
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_THAT(malformed.output,
              HasSubstr("--taskleak_grace=soon: expected a duration"));

  internal::ProcessResult env =
      RunSuite({"--gtest_filter=Clean.*"}, {"TASKLEAK_TOLERANCE=-3"});
  EXPECT_EQ(env.exit_code, 2);
  EXPECT_THAT(env.output, HasSubstr("TASKLEAK_TOLERANCE"));
}

TEST(GoogleTestListenerTest, HelpListsTheFlags) {
  internal::ProcessResult r = RunSuite({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* flag :
       {"--taskleak_mode=fail|warn|off", "--taskleak_grace=DURATION",
        "--taskleak_tolerance=N", "--taskleak_ignore_thread=REGEX",
        "--taskleak_ignore_function=NAME", "--taskleak_check=LIST",
        "--taskleak_max_frames=N", "--taskleak_report_dir=DIR",
        "--taskleak_strict_singletons"}) {
    EXPECT_THAT(r.output, HasSubstr(flag));
  }
}

}  // namespace
}  // namespace taskleak
