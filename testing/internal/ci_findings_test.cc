#include "taskleak/testing/internal/ci_findings.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace internal {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

SymbolizedFrame Frame(std::string function, std::string file, int line) {
  SymbolizedFrame f;
  f.function = std::move(function);
  f.file = std::move(file);
  f.line = line;
  return f;
}

ThreadDump Thread(std::string name, std::vector<SymbolizedFrame> creation) {
  ThreadDump t;
  t.info.name = std::move(name);
  t.created_by.push_back(ThreadCreator{1, "main", {}, std::move(creation)});
  return t;
}

const std::vector<SymbolizedFrame> kPoolCreation = {
    Frame("std::thread::_M_start_thread()", "", 0),
    Frame("std::thread::thread<>()", "/usr/include/c++/12/thread", 80),
    Frame("taskleak::internal::Something()", "runtime/x.cc", 3),
    Frame("Pool::Pool(int)", "/proc/self/cwd/src/pool,v2.cc", 20),
    Frame("main", "src/main.cc", 5)};

LeakReport PoolReport() {
  LeakReport report;
  report.scope = "PoolTest.Shutdown";
  report.grace = absl::Seconds(1);
  report.threads = {
      Thread("worker-0", kPoolCreation), Thread("worker-1", kPoolCreation),
      Thread("timer", {Frame("Timer::Start()", "src/timer.cc", 9)})};
  return report;
}

Finding Make(Finding::Kind kind, int count, std::string test = "T.t") {
  Finding f;
  f.kind = kind;
  f.count = count;
  f.test = std::move(test);
  f.file = "src/a.cc";
  f.line = count;
  f.message = "m";
  return f;
}

TEST(CiFindingsTest, OneFindingPerCreationSiteAtTheUsersLine) {
  std::vector<Finding> findings =
      LeakFindings(PoolReport(), "taskleak-PoolTest.Shutdown.txt");
  ASSERT_THAT(findings, SizeIs(2));
  EXPECT_EQ(findings[0].file, "src/pool,v2.cc");  // library frames skipped
  EXPECT_EQ(findings[0].line, 20);
  EXPECT_EQ(findings[0].count, 2);
  EXPECT_EQ(findings[0].message,
            "2 threads (\"worker-0\", \"worker-1\") started here are still "
            "running after 1s (PoolTest.Shutdown)");
  EXPECT_EQ(findings[1].count, 1);
  EXPECT_EQ(findings[1].file, "src/timer.cc");
  EXPECT_THAT(
      GithubAnnotations(findings),
      ElementsAre("::error file=src/pool%2Cv2.cc,line=20,title=taskleak%3A "
                  "thread leak in PoolTest.Shutdown (2)::2 threads "
                  "(\"worker-0\", \"worker-1\") started here are still "
                  "running after 1s (PoolTest.Shutdown)",
                  HasSubstr("::error file=src/timer.cc,line=9,title=taskleak"
                            "%3A thread leak in PoolTest.Shutdown::1 thread")));
}

// Threads of a pool share one symbolized creation stack: it is located once
// for them, and a thread created elsewhere still gets its own site.
TEST(CiFindingsTest, ThreadsSharingACreationStackShareItsSite) {
  const SharedFrames pool(kPoolCreation);
  LeakReport report = PoolReport();
  for (ThreadDump& t : report.threads) {
    if (t.info.name != "timer") t.created_by[0].stack = pool;
  }
  report.threads.push_back(report.threads[0]);
  report.threads.back().info.name = "worker-2";
  std::vector<Finding> findings = LeakFindings(report, "");
  ASSERT_THAT(findings, SizeIs(2));
  EXPECT_EQ(findings[0].file, "src/pool,v2.cc");
  EXPECT_EQ(findings[0].line, 20);
  EXPECT_EQ(findings[0].count, 3);
  EXPECT_EQ(findings[1].file, "src/timer.cc");
  EXPECT_EQ(findings[1].line, 9);
  EXPECT_EQ(findings[1].count, 1);
}

TEST(CiFindingsTest, NoUserFrameMeansNoFile) {
  LeakReport report;
  report.scope = "T.t";
  report.threads = {Thread("w", {Frame("std::thread::thread<>()", "", 0)})};
  std::vector<Finding> findings = LeakFindings(report, "");
  ASSERT_THAT(findings, SizeIs(1));
  EXPECT_THAT(GithubAnnotations(findings),
              ElementsAre(AllOf(HasSubstr("::error title=taskleak%3A thread "
                                          "leak in T.t::"),
                                Not(HasSubstr("file=")))));
}

// --taskleak_mode=warn: what failed nothing is a warning, the rest errors.
TEST(CiFindingsTest, WhatDidNotFailIsAWarning) {
  Finding warned = Make(Finding::Kind::kThreadLeak, 2);
  warned.failed = false;
  const Finding failed = Make(Finding::Kind::kHang, 1);
  EXPECT_THAT(
      GithubAnnotations({warned, failed}),
      ElementsAre(
          HasSubstr("::error file=src/a.cc,line=1,title=taskleak%3A hang"),
          HasSubstr("::warning file=src/a.cc,line=2,title=taskleak%3A thread "
                    "leak in T.t (2)::m")));
}

TEST(CiFindingsTest, AtMostTenMostImportantFirstThenHowManyMore) {
  std::vector<Finding> findings = {
      Make(Finding::Kind::kTaskLeak, 1), Make(Finding::Kind::kThreadLeak, 2),
      Make(Finding::Kind::kHeapLeak, 1), Make(Finding::Kind::kThreadLeak, 5),
      Make(Finding::Kind::kRace, 1),     Make(Finding::Kind::kHang, 1)};
  for (int i = 0; i < 6; ++i)
    findings.push_back(Make(Finding::Kind::kTaskLeak, 1));
  const std::vector<std::string> lines = GithubAnnotations(findings);
  ASSERT_THAT(lines, SizeIs(11));
  EXPECT_THAT(lines[0], HasSubstr("title=taskleak%3A hang in T.t::"));
  EXPECT_THAT(lines[1], HasSubstr("title=taskleak%3A race in T.t::"));
  EXPECT_THAT(lines[2], HasSubstr("thread leak in T.t (5)"));
  EXPECT_THAT(lines[3], HasSubstr("thread leak in T.t (2)"));
  EXPECT_THAT(lines[4], HasSubstr("heap leak"));
  EXPECT_THAT(lines[9], HasSubstr("task leak"));
  EXPECT_THAT(lines[10],
              HasSubstr("::notice title=taskleak::2 more finding(s)"));
  EXPECT_THAT(GithubAnnotations({Make(Finding::Kind::kRace, 1)}), SizeIs(1));
}

TEST(CiFindingsTest, MarkdownTableRowsMostImportantFirst) {
  Finding leak = Make(Finding::Kind::kThreadLeak, 2, "PoolTest.A|B");
  leak.report_file = "taskleak-PoolTest.A.txt";
  Finding hang = Make(Finding::Kind::kHang, 1, "HangTest.Forever");
  hang.file.clear();
  const std::string md = MarkdownSummary({leak, hang}, "/bin/pool_test");
  EXPECT_EQ(md,
            "### taskleak: 2 findings in `/bin/pool_test`\n\n"
            "| test | kind | where | count | report |\n"
            "| --- | --- | --- | --- | --- |\n"
            "| HangTest.Forever | hang | `(no frame of yours)` | 1 |  |\n"
            "| PoolTest.A\\|B | thread leak | `src/a.cc:2` | 2 | "
            "`taskleak-PoolTest.A.txt` |\n\n");
  EXPECT_EQ(MarkdownSummary({}, "x"), "");
}

TEST(CiFindingsTest, MarkdownStaysUnderItsLimit) {
  std::vector<Finding> many(10000, Make(Finding::Kind::kTaskLeak, 1));
  const std::string md = MarkdownSummary(many, "t", 64 * 1024);
  EXPECT_LE(md.size(), 64u * 1024);
  EXPECT_THAT(md, HasSubstr(" more row(s) left out; see taskleak-summary.txt"));
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
