// Runs testing/testdata/hang_suite (built with //testing:gtest_main) one
// scenario at a time and checks how each hang or signal is reported and how
// the process ends.

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/testing/internal/junit_xml.h"
#include "taskleak/testing/testutil/subprocess.h"
#include "taskleak/testing/testutil/test_files.h"

// Defined by ThreadSanitizer's runtime, under which signal dumps are off
// and timeouts come from a thread of taskleak's.
extern "C" void __tsan_init() __attribute__((weak));

namespace taskleak {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kDeathTestWarning[] =
    "Death tests use fork(), which is unsafe particularly in a threaded "
    "context";

struct SuiteRun {
  internal::ProcessResult result;
  absl::Duration took;
};

SuiteRun RunSuite(std::vector<std::string> args,
                  std::vector<std::string> env = {}) {
  args.insert(args.begin(), "testing/testdata/hang_suite");
  const absl::Time start = absl::Now();
  absl::StatusOr<internal::ProcessResult> result =
      internal::RunProcess(args, env, absl::Seconds(60));
  EXPECT_TRUE(result.ok()) << result.status();
  return {result.ok() ? *result : internal::ProcessResult{},
          absl::Now() - start};
}

bool UnderThreadSanitizer() { return &__tsan_init != nullptr; }

constexpr char kOffUnderTsan[] = "signal dumps are off under ThreadSanitizer";

std::string TempDir() { return internal::MakeTempDir("watchdog"); }

// "testing/testdata/hang_suite.cc:N" for the line holding `marker`.
std::string Where(const std::string& marker) {
  return internal::SourceLine("testing/testdata/hang_suite.cc", marker);
}

// The <testcase> element of `name`, up to its end.
std::string TestCase(const std::string& xml, const std::string& name) {
  const size_t start = xml.find(absl::StrCat("<testcase name=\"", name, "\""));
  if (start == std::string::npos) return "";
  const size_t self_closed = xml.find("/>\n", start);
  const size_t open_end = xml.find(">", start);
  if (self_closed != std::string::npos && self_closed < open_end + 1) {
    return xml.substr(start, self_closed + 2 - start);
  }
  const size_t end = xml.find("</testcase>", start);
  return xml.substr(start, end + 11 - start);
}

// The timeline at `path`, checked by runtime/testdata/check_timeline.py
// (python's json module): "test NAME" or "thread NAME" -> {begin, end} in
// microseconds, and each line.
struct TimelineSlices {
  std::string output;
  std::map<std::string, std::pair<int64_t, int64_t>> spans;
  std::map<std::string, std::string> lines;
};
TimelineSlices ReadTimeline(const std::string& path) {
  TimelineSlices t;
  absl::StatusOr<internal::ProcessResult> checked = internal::RunProcess(
      {"/usr/bin/python3", "runtime/testdata/check_timeline.py", path});
  EXPECT_TRUE(checked.ok()) << checked.status();
  if (!checked.ok()) return t;
  t.output = checked->output;
  EXPECT_EQ(checked->exit_code, 0) << t.output;
  for (absl::string_view line : absl::StrSplit(t.output, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    int64_t ts = 0, dur = 0;
    const size_t at = f.size() > 0 && f[0] == "thread" ? 3 : 2;
    if (f.size() > at + 1 && (f[0] == "test" || f[0] == "thread") &&
        absl::SimpleAtoi(f[at], &ts) && absl::SimpleAtoi(f[at + 1], &dur)) {
      const std::string key = absl::StrCat(f[0], " ", f[1]);
      t.spans[key] = {ts, ts + dur};
      t.lines[key] = std::string(line);
    }
  }
  return t;
}

TEST(WatchdogTest, HungTestIsNamedDumpedAndEndsTheProcess) {
  const std::string dir = TempDir();
  const SuiteRun run =
      RunSuite({"--gtest_filter=HangTest.Finishes:HangTest.BlocksForever:"
                "HangTest.NeverRuns",
                "--taskleak_test_timeout=1s", "--taskleak_timeline",
                absl::StrCat("--gtest_output=xml:", dir, "/out.xml"),
                absl::StrCat("--taskleak_report_dir=", dir, "/reports")},
               {"GITHUB_ACTIONS=true"});
  const std::string& out = run.result.output;
  EXPECT_EQ(run.result.exit_code, 1) << out;
  EXPECT_GE(run.took, absl::Seconds(1));
  // The hang's annotation at the hung thread's first frame of the user's.
  const std::string hang_line = Where("HANG-LINE");
  EXPECT_THAT(out,
              HasSubstr(absl::StrCat(
                  "::error file=", hang_line.substr(0, hang_line.rfind(':')),
                  ",line=", hang_line.substr(hang_line.rfind(':') + 1),
                  ",title=taskleak%3A hang in HangTest.BlocksForever::"
                  "HangTest.BlocksForever timed out")))
      << out;
  EXPECT_THAT(
      internal::ReadFile(dir + "/reports/taskleak-summary.md"),
      HasSubstr("| HangTest.BlocksForever | hang | `" + hang_line +
                "` | 1 | `taskleak-hang-HangTest.BlocksForever.txt` |"));
  EXPECT_LT(run.took, absl::Seconds(20)) << out;
  EXPECT_THAT(
      out,
      AllOf(HasSubstr("[       OK ] HangTest.Finishes"),
            // Printed before the hang, still in stdio's buffer when the
            // process ended: flushed by the report.
            HasSubstr("BlocksForever is about to wait"),
            HasSubstr("taskleak: HangTest.BlocksForever timed out: still "
                      "running after 1"),
            HasSubstr("(limit 1s, from --taskleak_test_timeout). Every thread"),
            HasSubstr("WaitForever()"), HasSubstr(Where("HANG-LINE")),
            HasSubstr("HangTest_BlocksForever_Test::TestBody()"),
            HasSubstr("taskleak: report: " + dir +
                      "/reports/taskleak-hang-HangTest.BlocksForever.txt"),
            HasSubstr("taskleak: wrote the XML report " + dir +
                      "/out.xml: HangTest.BlocksForever failed, 1 tests not "
                      "run"),
            HasSubstr("taskleak: ending the process with exit status 1"),
            Not(HasSubstr("[ RUN      ] HangTest.NeverRuns"))));

  const std::string report = internal::ReadFile(
      dir + "/reports/taskleak-hang-HangTest.BlocksForever.txt");
  EXPECT_THAT(report, AllOf(HasSubstr("HangTest.BlocksForever timed out"),
                            HasSubstr(Where("HANG-LINE"))));
  EXPECT_THAT(
      internal::ReadFile(
          dir + "/reports/taskleak-hang-HangTest.BlocksForever-threads.svg"),
      AllOf(HasSubstr("<svg"), HasSubstr("WaitForever()")));
  EXPECT_THAT(
      internal::ReadFile(
          dir + "/reports/taskleak-hang-HangTest.BlocksForever-threads.pb.gz"),
      StartsWith("\x1f\x8b"));
  // The timeline, written by the dump: the hung test's slice is still open
  // and ends with the dump, as does the test thread, a second later.
  EXPECT_THAT(out, HasSubstr("taskleak: timeline: " + dir +
                             "/reports/taskleak-timeline.json"));
  TimelineSlices timeline =
      ReadTimeline(dir + "/reports/taskleak-timeline.json");
  const auto finishes = timeline.spans["test HangTest.Finishes"];
  const auto hung = timeline.spans["test HangTest.BlocksForever"];
  const auto main_thread = timeline.spans["thread hang_suite"];
  ASSERT_GT(hung.second, 0) << timeline.output;
  EXPECT_THAT(timeline.lines["test HangTest.Finishes"],
              HasSubstr("still_running=False"));
  EXPECT_THAT(timeline.lines["test HangTest.BlocksForever"],
              HasSubstr("still_running=True"));
  EXPECT_LE(finishes.second, hung.first) << timeline.output;
  // The 1 s limit, within the 1% by which the timeline's clock readings
  // and the watchdog's timer can disagree (seen: 999976 µs).
  EXPECT_GE(hung.second - hung.first, 990000) << timeline.output;
  EXPECT_EQ(main_thread.second, hung.second) << timeline.output;
  EXPECT_THAT(timeline.lines["thread hang_suite"],
              HasSubstr("still_running=True"));

  const std::string xml = internal::ReadFile(dir + "/out.xml");
  EXPECT_THAT(xml, AllOf(HasSubstr("<testsuites tests=\"3\" failures=\"1\" "
                                   "disabled=\"0\" skipped=\"1\""),
                         HasSubstr("</testsuites>\n")));
  EXPECT_THAT(TestCase(xml, "Finishes"),
              AllOf(HasSubstr("status=\"run\""), Not(HasSubstr("<failure"))));
  EXPECT_THAT(TestCase(xml, "BlocksForever"),
              AllOf(HasSubstr("<failure message=\"taskleak: "
                              "HangTest.BlocksForever timed out"),
                    HasSubstr(Where("HANG-LINE"))));
  EXPECT_THAT(TestCase(xml, "NeverRuns"),
              AllOf(HasSubstr("status=\"notrun\""),
                    HasSubstr("<skipped message=\"not run: the process was "
                              "ended when HangTest.BlocksForever timed out")));
}

// Every thread of a hung test is in the report: with its stack if it
// answered, or with the reason it did not. Under ThreadSanitizer a thread
// in read() cannot answer; elsewhere it does.
TEST(WatchdogTest, HungTestShowsEveryThreadAnsweredOrNot) {
  const SuiteRun run =
      RunSuite({"--gtest_filter=HangTest.WaitsWhileItsThreadReads",
                "--taskleak_test_timeout=1s"});
  const std::string& out = run.result.output;
  EXPECT_EQ(run.result.exit_code, 1) << out;
  EXPECT_LT(run.took, absl::Seconds(20)) << out;
  EXPECT_THAT(out,
              AllOf(HasSubstr("taskleak: HangTest.WaitsWhileItsThreadReads "
                              "timed out: still running after 1"),
                    HasSubstr("WaitForever()"), HasSubstr(Where("HANG-LINE")),
                    HasSubstr("\"reader\""),
                    HasSubstr("taskleak: ending the process with exit status "
                              "1"),
                    Not(HasSubstr("taskleak-timer"))))
      << out;
  // The reader's block: from its header to the next thread's.
  const size_t reader = out.find("\"reader\"");
  ASSERT_NE(reader, std::string::npos) << out;
  const std::string block =
      out.substr(reader, out.find("\nthread ", reader) - reader);
  if (UnderThreadSanitizer()) {
    EXPECT_THAT(block,
                AllOf(HasSubstr("did not answer: blocked where "
                                "ThreadSanitizer does not deliver signals"),
                      Not(HasSubstr(Where("READ-LINE")))))
        << out;
  } else {
    EXPECT_THAT(block, AllOf(HasSubstr("ReadForever(int)"),
                             HasSubstr(Where("READ-LINE"))))
        << out;
  }
}

TEST(WatchdogTest, TestsWithinTheLimitAreUnaffected) {
  const SuiteRun run =
      RunSuite({"--gtest_filter=HangTest.Finishes:HangDeathTest.*",
                "--taskleak_test_timeout=20s"});
  EXPECT_EQ(run.result.exit_code, 0) << run.result.output;
  EXPECT_THAT(run.result.output, AllOf(HasSubstr("[  PASSED  ] 3 tests"),
                                       Not(HasSubstr("timed out"))));
}

TEST(WatchdogTest, EnvironmentTwinSetsTheLimit) {
  const SuiteRun run = RunSuite({"--gtest_filter=HangTest.BlocksForever"},
                                {"TASKLEAK_TEST_TIMEOUT=500ms"});
  EXPECT_EQ(run.result.exit_code, 1) << run.result.output;
  EXPECT_THAT(run.result.output,
              HasSubstr("(limit 500ms, from --taskleak_test_timeout)"));
}

TEST(WatchdogTest, TestCanShortenItsOwnLimit) {
  // No suite-wide limit at all.
  const SuiteRun run = RunSuite({"--gtest_filter=HangTest.ShortLimitOfItsOwn"});
  EXPECT_EQ(run.result.exit_code, 1) << run.result.output;
  EXPECT_LT(run.took, absl::Seconds(15));
  EXPECT_THAT(run.result.output,
              AllOf(HasSubstr("taskleak: HangTest.ShortLimitOfItsOwn timed "
                              "out: still running after "),
                    HasSubstr("(limit 300ms, set by ThisTest::SetTimeout)"),
                    HasSubstr(Where("HANG-LINE"))));
}

TEST(WatchdogTest, TestCanLengthenItsOwnLimit) {
  const SuiteRun run = RunSuite({"--gtest_filter=HangTest.LongerLimitOfItsOwn",
                                 "--taskleak_test_timeout=500ms"});
  EXPECT_EQ(run.result.exit_code, 0) << run.result.output;
  EXPECT_THAT(run.result.output,
              AllOf(HasSubstr("[       OK ] HangTest.LongerLimitOfItsOwn"),
                    Not(HasSubstr("timed out"))));
}

TEST(WatchdogTest, DeathTestsSeeNoThreadOfOurs) {
  if (UnderThreadSanitizer()) {
    GTEST_SKIP() << "under ThreadSanitizer timeouts come from a thread of "
                    "taskleak's, beside TSan's own";
  }
  const SuiteRun run =
      RunSuite({"--gtest_filter=HangDeathTest.DiesWithoutWarning",
                "--taskleak_test_timeout=20s"});
  EXPECT_EQ(run.result.exit_code, 0) << run.result.output;
  EXPECT_THAT(run.result.output,
              AllOf(HasSubstr("[       OK ] HangDeathTest.DiesWithoutWarning"),
                    Not(HasSubstr(kDeathTestWarning))));
}

// The control for the test above: the warning is there to be seen.
TEST(WatchdogTest, DeathTestWarningIsSeenWhenTheTestHasAThread) {
  const SuiteRun run =
      RunSuite({"--gtest_filter=HangDeathTest.WarnsWithAThreadAlive",
                "--taskleak_test_timeout=20s"});
  EXPECT_EQ(run.result.exit_code, 0) << run.result.output;
  EXPECT_THAT(run.result.output, HasSubstr(kDeathTestWarning));
}

TEST(WatchdogTest, SigquitDumpsAndTheTestsGoOn) {
  if (UnderThreadSanitizer()) GTEST_SKIP() << kOffUnderTsan;
  const std::string dir = TempDir();
  const SuiteRun run = RunSuite(
      {"--gtest_filter=SignalTest.QuitPrintsAndGoesOn:HangTest.Finishes",
       absl::StrCat("--taskleak_report_dir=", dir)});
  EXPECT_EQ(run.result.exit_code, 0) << run.result.output;
  // The dump's text and pictures, named after the signal and the test.
  const std::string prefix =
      absl::StrCat("taskleak: report: ", dir,
                   "/taskleak-sigquit-SignalTest.QuitPrintsAndGoesOn-");
  const size_t at = run.result.output.find(prefix);
  ASSERT_NE(at, std::string::npos) << run.result.output;
  const size_t start = at + std::string("taskleak: report: ").size();
  const std::string text_path = run.result.output.substr(
      start, run.result.output.find('\n', start) - start);
  ASSERT_TRUE(absl::EndsWith(text_path, ".txt")) << text_path;
  const std::string base = text_path.substr(0, text_path.size() - 4);
  EXPECT_THAT(internal::ReadFile(text_path),
              HasSubstr("SignalTest_QuitPrintsAndGoesOn_Test::TestBody()"));
  EXPECT_THAT(internal::ReadFile(base + "-threads.svg"), HasSubstr("<svg"));
  const std::string profile = internal::ReadFile(base + "-threads.pb.gz");
  ASSERT_GE(profile.size(), 2u) << base;
  EXPECT_EQ(profile.substr(0, 2), "\x1f\x8b") << "not gzip: " << base;
  EXPECT_THAT(
      run.result.output,
      AllOf(HasSubstr("taskleak: SIGQUIT while "
                      "SignalTest.QuitPrintsAndGoesOn was running (for "),
            HasSubstr("; the tests go on. Every thread"),
            HasSubstr("SignalTest_QuitPrintsAndGoesOn_Test::TestBody()"),
            HasSubstr("still running after SIGQUIT"),
            HasSubstr("[  PASSED  ] 2 tests")));
}

TEST(WatchdogTest, SigtermDumpsWritesXmlAndDiesBySigterm) {
  if (UnderThreadSanitizer()) GTEST_SKIP() << kOffUnderTsan;
  const std::string dir = TempDir();
  const SuiteRun run = RunSuite(
      {"--gtest_filter=HangTest.Finishes:SignalTest.TermPrintsAndDies",
       absl::StrCat("--gtest_output=xml:", dir, "/"), "--taskleak_timeline",
       absl::StrCat("--taskleak_report_dir=", dir)});
  const std::string& out = run.result.output;
  EXPECT_EQ(run.result.exit_code, 128 + SIGTERM) << out;
  EXPECT_LT(run.took, absl::Seconds(20));
  EXPECT_THAT(out,
              AllOf(HasSubstr("TermPrintsAndDies is about to get SIGTERM"),
                    HasSubstr("taskleak: SIGTERM while "
                              "SignalTest.TermPrintsAndDies was running (for "),
                    HasSubstr("SignalTest_TermPrintsAndDies_Test::TestBody()"),
                    HasSubstr("taskleak: dying by SIGTERM"),
                    Not(HasSubstr("still running after SIGTERM"))));
  // A directory in --gtest_output: the file is named after the binary.
  const std::string xml = internal::ReadFile(dir + "/hang_suite.xml");
  EXPECT_THAT(TestCase(xml, "TermPrintsAndDies"),
              HasSubstr("<failure message=\"taskleak: ended by SIGTERM after"));
  EXPECT_THAT(TestCase(xml, "Finishes"), Not(HasSubstr("<failure")));
  // The timeline too, with the signalled test open up to the dump.
  TimelineSlices timeline = ReadTimeline(dir + "/taskleak-timeline.json");
  EXPECT_THAT(timeline.lines["test SignalTest.TermPrintsAndDies"],
              HasSubstr("still_running=True"))
      << timeline.output;
  EXPECT_EQ(timeline.spans["thread hang_suite"].second,
            timeline.spans["test SignalTest.TermPrintsAndDies"].second)
      << timeline.output;
}

TEST(WatchdogTest, SigtermDuringALeakCheckNamesTheTestAndWhatItWaitsFor) {
  if (UnderThreadSanitizer()) GTEST_SKIP() << kOffUnderTsan;
  const std::string dir = TempDir();
  const SuiteRun run = RunSuite(
      {"--gtest_filter=HangTest.Finishes:SignalTest.TermDuringTheLeakCheck",
       absl::StrCat("--gtest_output=xml:", dir, "/"),
       absl::StrCat("--taskleak_report_dir=", dir)});
  const std::string& out = run.result.output;
  EXPECT_EQ(run.result.exit_code, 128 + SIGTERM) << out;
  EXPECT_THAT(out, AllOf(HasSubstr("taskleak: SIGTERM while "
                                   "SignalTest.TermDuringTheLeakCheck was "
                                   "running (for "),
                         HasSubstr("in its leak check: waiting for 1 thread "
                                   "to end"),
                         Not(HasSubstr("no test was running"))));
  EXPECT_THAT(
      internal::ReadFile(
          dir + "/taskleak-sigterm-SignalTest.TermDuringTheLeakCheck.txt"),
      HasSubstr("waiting for 1 thread to end"))
      << out;
  const std::string xml = internal::ReadFile(dir + "/hang_suite.xml");
  EXPECT_THAT(TestCase(xml, "TermDuringTheLeakCheck"),
              HasSubstr("<failure message=\"taskleak: ended by SIGTERM after"))
      << xml;
  EXPECT_THAT(TestCase(xml, "Finishes"), Not(HasSubstr("<failure")));
}

TEST(WatchdogTest, ProgramsOwnSigtermHandlerIsKept) {
  if (UnderThreadSanitizer()) GTEST_SKIP() << kOffUnderTsan;
  const SuiteRun run = RunSuite({"--gtest_filter=SignalTest.TermPrintsAndDies"},
                                {"HANG_SUITE_OWN_SIGTERM_HANDLER=1"});
  EXPECT_EQ(run.result.exit_code, 3) << run.result.output;
  EXPECT_THAT(run.result.output,
              AllOf(HasSubstr("taskleak: SIGTERM already has a handler (or is "
                              "ignored); leaving it in place: no thread dump "
                              "on SIGTERM"),
                    HasSubstr("the program's SIGTERM handler ran"),
                    Not(HasSubstr("taskleak: SIGTERM while"))));
}

// A signal the parent left ignored (nohup, a script's background job) is
// left so without a word; the others still dump.
TEST(WatchdogTest, SignalTheParentIgnoresIsLeftQuietly) {
  if (UnderThreadSanitizer()) GTEST_SKIP() << kOffUnderTsan;
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  struct sigaction previous;
  ASSERT_EQ(sigaction(SIGQUIT, &ignore, &previous), 0);
  const SuiteRun run =
      RunSuite({"--gtest_filter=SignalTest.TermPrintsAndDies"});
  sigaction(SIGQUIT, &previous, nullptr);
  EXPECT_EQ(run.result.exit_code, 128 + SIGTERM) << run.result.output;
  EXPECT_THAT(run.result.output,
              AllOf(Not(HasSubstr("SIGQUIT")),
                    HasSubstr("taskleak: SIGTERM while "
                              "SignalTest.TermPrintsAndDies was running")));
}

// A SIGTERM handler under TSan could keep a hung process alive: SIGTERM
// keeps its default action, even with a time limit.
TEST(WatchdogTest, NoSignalDumpsUnderThreadSanitizer) {
  if (!UnderThreadSanitizer()) GTEST_SKIP() << "not a ThreadSanitizer build";
  SuiteRun run = RunSuite(
      {"--gtest_filter=HangTest.Finishes", "--taskleak_test_timeout=1s"});
  EXPECT_EQ(run.result.exit_code, 0) << run.result.output;
  EXPECT_THAT(run.result.output, Not(HasSubstr("are off")));
  for (const char* limit : {"0", "20s"}) {
    run = RunSuite({"--gtest_filter=SignalTest.TermPrintsAndDies",
                    absl::StrCat("--taskleak_test_timeout=", limit)});
    EXPECT_EQ(run.result.exit_code, 128 + SIGTERM) << run.result.output;
    EXPECT_THAT(run.result.output, Not(HasSubstr("taskleak: SIGTERM while")));
  }
}

TEST(WatchdogTest, SignalDumpsCanBeTurnedOff) {
  const SuiteRun run =
      RunSuite({"--gtest_filter=SignalTest.QuitPrintsAndGoesOn",
                "--taskleak_dump_on_signal=false"});
  // SIGQUIT's default action.
  EXPECT_EQ(run.result.exit_code, 128 + SIGQUIT) << run.result.output;
  EXPECT_THAT(run.result.output, Not(HasSubstr("taskleak: SIGQUIT")));
}

TEST(WatchdogTest, BadTimeoutStopsBeforeAnyTest) {
  const SuiteRun run = RunSuite({"--taskleak_test_timeout=soon"});
  EXPECT_EQ(run.result.exit_code, 2);
  EXPECT_THAT(run.result.output,
              AllOf(HasSubstr("--taskleak_test_timeout=soon: expected a "
                              "duration"),
                    Not(HasSubstr("[ RUN"))));
}

TEST(JunitXmlTest, EscapesWhatXmlCannotHold) {
  EXPECT_EQ(internal::XmlEscape("a<b>&\"c\"\n\x01", true),
            "a&lt;b&gt;&amp;&quot;c&quot;&#xA;");
  EXPECT_EQ(internal::XmlEscape("a<b>\n", false), "a&lt;b&gt;\n");
  EXPECT_THAT(internal::MinimalJunitXml("S", "T<1>", "hung"),
              AllOf(HasSubstr("<testcase name=\"T&lt;1&gt;\""),
                    HasSubstr("<failure message=\"hung\"")));
}

}  // namespace
}  // namespace taskleak
