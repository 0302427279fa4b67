#include "taskleak/runtime/internal/own_fds.h"

#include <fcntl.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace taskleak {
namespace internal {
namespace {

int OpenReadOnly(const char* path) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path;
  return fd;
}

TEST(OwnFdsTest, RegisteredDescriptorIsOursAnotherOfTheSameFileIsNot) {
  const int ours = OpenReadOnly("/proc/self/exe");
  const int theirs = OpenReadOnly("/proc/self/exe");
  RegisterOwnFd(ours);
  EXPECT_TRUE(IsOwnFd(ours));
  EXPECT_FALSE(IsOwnFd(theirs));
  ForgetOwnFd(ours);
  EXPECT_FALSE(IsOwnFd(ours));
  close(ours);
  close(theirs);
}

// libdw closes a module's files when it drops the module; the number may
// then name a file of the program's.
TEST(OwnFdsTest, NumberReusedForAnotherFileIsNotOurs) {
  const int ours = OpenReadOnly("/proc/self/exe");
  RegisterOwnFd(ours);
  close(ours);  // behind the table's back
  const int theirs = OpenReadOnly("/dev/null");
  ASSERT_EQ(theirs, ours) << "the lowest free number is reused";
  EXPECT_FALSE(IsOwnFd(theirs));
  ForgetClosedOwnFds();
  close(theirs);
  // Dropped: the same file under the same number is not ours either.
  const int again = OpenReadOnly("/proc/self/exe");
  ASSERT_EQ(again, ours);
  EXPECT_FALSE(IsOwnFd(again));
  close(again);
}

// The race left: closed behind the table's back and, before anything
// noticed, the program opens the very same file and gets the same number.
TEST(OwnFdsTest, SameFileReopenedUnderTheSameNumberIsNotOurs) {
  const int ours = OpenReadOnly("/proc/self/exe");
  RegisterOwnFd(ours);
  ASSERT_TRUE(IsOwnFd(ours));
  close(ours);
  const int theirs = OpenReadOnly("/proc/self/exe");
  ASSERT_EQ(theirs, ours);
  EXPECT_FALSE(IsOwnFd(theirs));
  ForgetClosedOwnFds();
  close(theirs);
}

TEST(OwnFdsTest, ClosedOrNegativeDescriptorsAreIgnored) {
  RegisterOwnFd(-1);
  EXPECT_FALSE(IsOwnFd(-1));
  const int fd = OpenReadOnly("/dev/null");
  close(fd);
  RegisterOwnFd(fd);
  EXPECT_FALSE(IsOwnFd(fd));
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
