#include "taskleak/runtime/fd_list.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

TEST(FdListTest, OpenedDescriptorsAppearWithTargetsAndClosedOnesGo) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  int sock = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  int file = open("/proc/self/status", O_RDONLY);
  ASSERT_GE(file, 0);

  absl::StatusOr<std::vector<int>> fds = ListFds();
  ASSERT_TRUE(fds.ok()) << fds.status();
  EXPECT_THAT(*fds, Contains(pipe_fds[0]));
  EXPECT_THAT(*fds, Contains(sock));
  EXPECT_THAT(*ReadFdTarget(pipe_fds[0]), StartsWith("pipe:["));
  EXPECT_THAT(*ReadFdTarget(sock), StartsWith("socket:["));
  EXPECT_THAT(*ReadFdTarget(file), HasSubstr("/status"));

  close(pipe_fds[0]);
  close(pipe_fds[1]);
  close(sock);
  close(file);
  fds = ListFds();
  ASSERT_TRUE(fds.ok()) << fds.status();
  EXPECT_THAT(*fds, Not(Contains(sock)));
  EXPECT_TRUE(absl::IsNotFound(ReadFdTarget(sock).status()));
}

TEST(FdListTest, MissingProcIsAClearError) {
  FdListOptions options{"/nonexistent-proc/self/fd"};
  absl::StatusOr<std::vector<int>> fds = ListFds(options);
  ASSERT_FALSE(fds.ok());
  EXPECT_THAT(fds.status().message(), HasSubstr("/nonexistent-proc/self/fd"));
}

}  // namespace
}  // namespace taskleak
