#include "taskleak/leakcheck/leak_report.h"

#include <errno.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;

// A leaked thread named `name`; `creator` names the thread that started it.
ThreadDump Thread(pid_t tid, const std::string& name,
                  const std::string& creator = "main-thread") {
  ThreadDump t;
  t.info.id.tid = tid;
  t.info.name = name;
  ThreadCreator c;
  c.name = creator;
  t.created_by.push_back(c);
  return t;
}

LeakReport ReportOf(std::vector<ThreadDump> threads) {
  LeakReport report;
  report.scope = "PoolTest.Shutdown";
  report.grace = absl::Milliseconds(300);
  report.threads = std::move(threads);
  return report;
}

TEST(LeakReportTest, SummaryNamesEachThread) {
  LeakReport report =
      ReportOf({Thread(11, "resizer-0"), Thread(12, "resizer-1")});
  EXPECT_EQ(report.Summary(),
            "2 threads started by PoolTest.Shutdown are still running after "
            "300ms: resizer-0, resizer-1");
}

TEST(LeakReportTest, SummaryCountsEqualNamesAndUnnamedThreadsOnce) {
  std::vector<ThreadDump> threads;
  for (int i = 0; i < 3; ++i) threads.push_back(Thread(20 + i, "worker"));
  // Unnamed: it still carries its creator's name.
  threads.push_back(Thread(30, "main-thread"));
  threads.push_back(Thread(31, "main-thread"));
  threads.push_back(Thread(40, "io"));
  EXPECT_EQ(ReportOf(threads).Summary(),
            "6 threads started by PoolTest.Shutdown are still running after "
            "300ms: worker (3 threads), 2 unnamed threads, io");
  EXPECT_THAT(ReportOf({Thread(30, "main-thread")}).Summary(),
              EndsWith(": unnamed thread 30"));
}

TEST(LeakReportTest, SummaryOfAThousandThreadsStaysOneShortLine) {
  std::vector<ThreadDump> threads;
  for (int i = 0; i < 1000; ++i) {
    threads.push_back(Thread(100 + i, "conn-" + std::to_string(i)));
  }
  LeakReport report = ReportOf(threads);
  const std::string summary = report.Summary();
  EXPECT_THAT(summary, HasSubstr("1000 threads started by PoolTest.Shutdown"));
  EXPECT_THAT(summary, EndsWith("conn-6, conn-7 and 992 more")) << summary;
  EXPECT_THAT(summary, Not(HasSubstr("conn-8")));
  EXPECT_LT(summary.size(), 200u);
  // The report itself still names every thread.
  EXPECT_THAT(report.Text(), HasSubstr("conn-999"));
}

}  // namespace
}  // namespace taskleak
