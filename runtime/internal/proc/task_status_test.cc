// TaskStatus: parsing /proc/self/task/TID/status, reading it for one
// thread, and ReadTaskStatusInto, the async-signal-safe reader that
// ReadTaskStatus and the emergency dump share, against real and fake trees.

#include "taskleak/runtime/internal/proc/task_status.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

int OpenDir(const std::string& dir) {
  return open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

TEST(ReadTaskStatusIntoTest, ReadsTheMaskOfThisThread) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
  const int fd = OpenDir("/proc/self/task");
  ASSERT_GE(fd, 0);
  char buf[4096];
  TaskStatus status;
  const int error = ReadTaskStatusInto(fd, gettid(), buf, sizeof(buf), &status);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  EXPECT_EQ(error, 0);
  EXPECT_EQ(status.state, 'R');
  EXPECT_TRUE(HasSignal(status.blocked, SIGUSR2));
  EXPECT_FALSE(HasSignal(status.blocked, SIGUSR1));
  close(fd);
}

TEST(ReadTaskStatusIntoTest, AMissingThreadHasExited) {
  const int fd = OpenDir("/proc/self/task");
  ASSERT_GE(fd, 0);
  char buf[4096];
  TaskStatus status;
  // Larger than any pid_max.
  EXPECT_EQ(ReadTaskStatusInto(fd, 1 << 30, buf, sizeof(buf), &status), ENOENT);
  EXPECT_TRUE(absl::IsNotFound(ReadTaskStatus(fd, 1 << 30).status()));
  close(fd);
}

TEST(ReadTaskStatusIntoTest, MalformedTextSaysWhatIsMissing) {
  const char* base = getenv("TEST_TMPDIR");
  std::string dir = std::string(base != nullptr ? base : "/tmp") + "/tXXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  ASSERT_EQ(mkdir((dir + "/42").c_str(), 0700), 0);
  const std::string text = "Name:\tx\nState:\tS (sleeping)\nSigPnd:\tzz\n";
  const int file =
      open((dir + "/42/status").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(file, 0);
  ASSERT_EQ(write(file, text.data(), text.size()),
            static_cast<ssize_t>(text.size()));
  close(file);
  const int fd = OpenDir(dir);
  ASSERT_GE(fd, 0);
  char buf[4096];
  TaskStatus status;
  const char* malformed = nullptr;
  EXPECT_EQ(ReadTaskStatusInto(fd, 42, buf, sizeof(buf), &status, &malformed),
            EBADMSG);
  ASSERT_NE(malformed, nullptr);
  EXPECT_STREQ(malformed, "malformed status: no valid SigPnd line");
  EXPECT_THAT(std::string(ReadTaskStatus(fd, 42).status().message()),
              HasSubstr("42/status: malformed status: no valid SigPnd line"));
  close(fd);
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
