// Runs each buggy example's test binary and checks that it fails with the
// report a developer needs: what leaked, where it is stuck (function and
// file:line), who started it, and the GitHub annotation at that line.

#include <sys/stat.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/testing/testutil/subprocess.h"
#include "taskleak/testing/testutil/test_files.h"

namespace {

using ::taskleak::internal::ProcessResult;
using ::taskleak::internal::SourceLine;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// Where `binary`'s reports go: its own folder of this test's outputs
// (test.outputs), as each test binary has under bazel test.
std::string OutputsDir(const std::string& binary) {
  const char* dir = getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  const std::string outputs =
      dir != nullptr ? dir : taskleak::internal::MakeTempDir("examples");
  const std::string mine =
      absl::StrCat(outputs, "/", binary.substr(binary.rfind('/') + 1));
  mkdir(mine.c_str(), 0755);
  return mine;
}

ProcessResult RunExample(const std::string& binary,
                         std::vector<std::string> flags) {
  std::vector<std::string> argv = {binary, "--taskleak_grace=300ms"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  // Reports, pictures and the timeline land in this test's outputs.
  return taskleak::internal::RunProcessOrFail(
      argv, {"GITHUB_ACTIONS=true", "TASKLEAK_TIMELINE=1",
             absl::StrCat("TEST_UNDECLARED_OUTPUTS_DIR=", OutputsDir(binary))});
}

// The annotation at `where` ("file:line"), titled with the test and count.
std::string Annotation(const std::string& where, const std::string& title) {
  const size_t colon = where.rfind(':');
  return absl::StrCat("::error file=", where.substr(0, colon),
                      ",line=", where.substr(colon + 1),
                      ",title=taskleak%3A thread leak in ", title, "::");
}

TEST(ExamplesTest, PoolThatForgetsToJoin) {
  ProcessResult r = RunExample("examples/forgetful_pool_test", {});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const std::string stuck =
      SourceLine("examples/forgetful_pool.cc", "state->cv.wait(lock");
  const std::string started =
      SourceLine("examples/forgetful_pool.cc", "workers_.emplace_back");
  EXPECT_THAT(
      r.output,
      AllOf(HasSubstr("2 threads started by ForgetfulPoolTest.RunsJobs"
                      " are still running after 300ms: resizer-"),
            HasSubstr("2 threads like this"),
            HasSubstr("examples::ForgetfulPool::WorkerLoop"), HasSubstr(stuck),
            HasSubstr("examples::ForgetfulPool::ForgetfulPool"),
            HasSubstr(started),
            HasSubstr(Annotation(started, "ForgetfulPoolTest.RunsJobs (2)") +
                      "2 threads (\"resizer-")))
      << r.output;
}

// The pictures of the same report: the pprof profile decoded by protoc +
// python3-protobuf, the flame graph's frame names.
TEST(ExamplesTest, PoolThatForgetsToJoinPictures) {
  ProcessResult r = RunExample("examples/forgetful_pool_test", {});
  ASSERT_EQ(r.exit_code, 1) << r.output;
  const std::string dir = OutputsDir("forgetful_pool_test");
  const std::string base = dir + "/taskleak-ForgetfulPoolTest.RunsJobs";
  EXPECT_THAT(
      taskleak::internal::ReadFile(base + "-threads.svg"),
      AllOf(
          HasSubstr("examples::ForgetfulPool::WorkerLoop(std::shared_ptr&lt;"),
          HasSubstr("2 thread(s) left running by "
                    "ForgetfulPoolTest.RunsJobs")));
  absl::StatusOr<ProcessResult> decoded = taskleak::internal::RunProcess(
      {"/usr/bin/python3", "runtime/testdata/decode_pprof.py",
       base + "-threads.pb.gz"});
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  if (decoded->exit_code == 3) GTEST_SKIP() << decoded->output;
  ASSERT_EQ(decoded->exit_code, 0) << decoded->output;
  // "2 threads like this" in the text: one sample of 2.
  EXPECT_THAT(decoded->output,
              AllOf(HasSubstr("sample 2 state=sleeping|thread=resizer-"),
                    HasSubstr("test=ForgetfulPoolTest.RunsJobs"),
                    HasSubstr("examples::ForgetfulPool::WorkerLoop(std::"
                              "shared_ptr<examples::ForgetfulPool::State>) @ "
                              "examples/forgetful_pool.cc:")))
      << decoded->output;
  // The timeline, validated by python's json module: the leaked workers'
  // slices run past the end of the test that started them.
  absl::StatusOr<ProcessResult> timeline = taskleak::internal::RunProcess(
      {"/usr/bin/python3", "runtime/testdata/check_timeline.py",
       dir + "/taskleak-timeline.json"});
  ASSERT_TRUE(timeline.ok()) << timeline.status();
  ASSERT_EQ(timeline->exit_code, 0) << timeline->output;
  int64_t test_end = -1, resizer_end = -1;
  for (absl::string_view line : absl::StrSplit(timeline->output, '\n')) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    int64_t ts = 0, dur = 0;
    if (f.size() >= 4 && f[0] == "test" &&
        f[1] == "ForgetfulPoolTest.RunsJobs" && absl::SimpleAtoi(f[2], &ts) &&
        absl::SimpleAtoi(f[3], &dur)) {
      test_end = ts + dur;
    }
    if (f.size() >= 7 && f[0] == "thread" && f[1] == "resizer-0" &&
        absl::SimpleAtoi(f[3], &ts) && absl::SimpleAtoi(f[4], &dur)) {
      resizer_end = ts + dur;
      EXPECT_EQ(f[5], "created_in_test=ForgetfulPoolTest.RunsJobs") << line;
      EXPECT_EQ(f[6], "still_running=True") << line;
    }
  }
  ASSERT_GE(test_end, 0) << timeline->output;
  EXPECT_GT(resizer_end, test_end) << timeline->output;
}

TEST(ExamplesTest, DetachedTimer) {
  ProcessResult r = RunExample("examples/detached_timer_test", {});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const std::string stuck =
      SourceLine("examples/detached_timer.cc", "std::this_thread::sleep_for");
  const std::string started =
      SourceLine("examples/detached_timer.cc", "std::thread([delay");
  EXPECT_THAT(
      r.output,
      AllOf(HasSubstr("1 thread started by "
                      "DetachedTimerTest.SchedulesARetry is still "
                      "running after 300ms: retry-timer"),
            HasSubstr(stuck), HasSubstr("examples::RunAfter"),
            HasSubstr(started),
            HasSubstr(Annotation(started, "DetachedTimerTest.SchedulesARetry") +
                      "1 thread (\"retry-timer\") started here")))
      << r.output;
}

TEST(ExamplesTest, DescriptorLeftOpen) {
  ProcessResult r = RunExample("examples/audit_log_test",
                               {"--taskleak_check=threads,tasks,fds"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output,
              AllOf(HasSubstr("[  FAILED  ] AuditLogTest.AppendsLines"),
                    HasSubstr("1 file descriptor opened by "
                              "AuditLogTest.AppendsLines is still open"),
                    HasSubstr("/audit.log"),
                    HasSubstr("[       OK ] ClosingAuditLogTest.AppendsLines")))
      << r.output;
}

TEST(ExamplesTest, TasksLeftInTheSharedPoolsQueue) {
  ProcessResult r = RunExample("examples/prefetcher_test", {});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output,
              AllOf(HasSubstr("3 tasks registered by "
                              "PrefetcherTest.WarmsTheCache are still live: "
                              "prefetch user:1, prefetch user:2, prefetch "
                              "user:3"),
                    HasSubstr("thread_pool_job"),
                    HasSubstr("[       OK ] CancellingPrefetcherTest"),
                    // The pool itself is a lazily started singleton.
                    Not(HasSubstr("threads started by")),
                    HasSubstr("\"shared-0\" was started by a lazily "
                              "initialized singleton")))
      << r.output;
}

TEST(ExamplesTest, LazySingletonPoolIsNotBlamed) {
  ProcessResult r = RunExample("examples/shared_pool_test", {});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, AllOf(HasSubstr("taskleak: note: thread"),
                              HasSubstr("lazily initialized singleton"),
                              Not(HasSubstr("still running"))))
      << r.output;
}

}  // namespace
