// Runs each buggy example's test binary and checks that it fails with the
// report a developer needs: what leaked, where it is stuck (function and
// file:line), who started it, and the GitHub annotation at that line.

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/internal/subprocess.h"
#include "testing/internal/test_files.h"

namespace {

using ::taskleak::internal::ProcessResult;
using ::taskleak::internal::SourceLine;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string OutputsDir() {
  const char* dir = getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  return dir != nullptr ? dir : taskleak::internal::MakeTempDir("examples");
}

ProcessResult RunExample(const std::string& binary,
                         std::vector<std::string> flags) {
  std::vector<std::string> argv = {binary, "--taskleak_grace=300ms"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  // The examples' reports land in this test's outputs (test.outputs).
  absl::StatusOr<ProcessResult> result = taskleak::internal::RunProcess(
      argv, {"GITHUB_ACTIONS=true",
             absl::StrCat("TEST_UNDECLARED_OUTPUTS_DIR=", OutputsDir())});
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : ProcessResult{};
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
  const std::string base =
      absl::StrCat(OutputsDir(), "/taskleak-ForgetfulPoolTest.RunsJobs");
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
