#include "taskleak/runtime/internal/proc/task_status.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace internal {
namespace {

using ::testing::HasSubstr;

pid_t CurrentTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

TEST(TaskStatusTest, ParsesStateAndMasks) {
  absl::StatusOr<TaskStatus> status = ParseTaskStatus(
      "Name:\tworker (1)\nState:\tD (disk sleep)\nSigQ:\t0/96364\n"
      "SigPnd:\t8000000000000000\nShdPnd:\t0000000000000000\n"
      "SigBlk:\t0000000000000001\nSigIgn:\t0000000000001000\n");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state, 'D');
  EXPECT_TRUE(HasSignal(status->pending, 64));
  EXPECT_FALSE(HasSignal(status->pending, 63));
  EXPECT_TRUE(HasSignal(status->blocked, SIGHUP));
  EXPECT_FALSE(HasSignal(status->blocked, 64));
}

TEST(TaskStatusTest, RejectsMalformedStatus) {
  EXPECT_FALSE(ParseTaskStatus("").ok());
  EXPECT_FALSE(ParseTaskStatus("State:\tS (sleeping)\n").ok());
  EXPECT_FALSE(ParseTaskStatus("State:\tS\nSigPnd:\t0\n"
                               "SigBlk:\tzz\n")
                   .ok());
  EXPECT_THAT(std::string(ParseTaskStatus("SigBlk:\t0\n").status().message()),
              HasSubstr("State"));
}

TEST(TaskStatusTest, ReadsOwnThread) {
  const int dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir, 0);
  sigset_t one, old;
  sigemptyset(&one);
  sigaddset(&one, SIGRTMIN + 5);
  pthread_sigmask(SIG_BLOCK, &one, &old);
  absl::StatusOr<TaskStatus> status = ReadTaskStatus(dir, CurrentTid());
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state, 'R');
  EXPECT_TRUE(HasSignal(status->blocked, SIGRTMIN + 5));
  EXPECT_TRUE(absl::IsNotFound(ReadTaskStatus(dir, -5).status()));
  EXPECT_TRUE(TaskExists(dir, CurrentTid()));
  EXPECT_FALSE(TaskExists(dir, -5));
  close(dir);
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
