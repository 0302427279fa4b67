#include "taskleak/runtime/internal/proc/task_dir.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace internal {
namespace {

using ::testing::Contains;
using ::testing::UnorderedElementsAre;

TEST(ParseTaskNameTest, AcceptsPositiveDecimalsOnly) {
  EXPECT_EQ(ParseTaskName("1"), 1);
  EXPECT_EQ(ParseTaskName("4194304"), 4194304);
  EXPECT_EQ(ParseTaskName("0"), -1);
  EXPECT_EQ(ParseTaskName("."), -1);
  EXPECT_EQ(ParseTaskName(".."), -1);
  EXPECT_EQ(ParseTaskName(""), -1);
  EXPECT_EQ(ParseTaskName("12a"), -1);
  EXPECT_EQ(ParseTaskName("-5"), -1);
  EXPECT_EQ(ParseTaskName("99999999999"), -1);  // overflows pid_t
}

std::string MakeTempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string dir = std::string(base != nullptr ? base : "/tmp") + "/dirXXXXXX";
  EXPECT_NE(mkdtemp(dir.data()), nullptr);
  return dir;
}

std::vector<pid_t> List(int fd, size_t buffer_size) {
  std::vector<pid_t> tids;
  alignas(LinuxDirent64) char buf[4096];
  EXPECT_EQ(ForEachTaskId(fd, buf, std::min(buffer_size, sizeof(buf)),
                          [&](pid_t tid) { tids.push_back(tid); }),
            0);
  return tids;
}

TEST(ForEachTaskIdTest, VisitsNumericEntriesOnly) {
  const std::string dir = MakeTempDir();
  for (const char* name : {"12", "34", "abc", "5x", "0"}) {
    ASSERT_EQ(mkdir((dir + "/" + name).c_str(), 0700), 0) << name;
  }
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_THAT(List(fd, 4096), UnorderedElementsAre(12, 34));
  close(fd);
}

// A buffer that holds few entries: every getdents64 batch is read.
TEST(ForEachTaskIdTest, ReadsInSeveralBatches) {
  const std::string dir = MakeTempDir();
  std::vector<pid_t> expected;
  for (int i = 1; i <= 50; ++i) {
    ASSERT_EQ(mkdir((dir + "/" + std::to_string(i)).c_str(), 0700), 0);
    expected.push_back(i);
  }
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::vector<pid_t> tids = List(fd, 128);
  close(fd);
  std::sort(tids.begin(), tids.end());
  EXPECT_EQ(tids, expected);
}

TEST(ForEachTaskIdTest, FindsTheThreadsOfThisProcess) {
  std::atomic<pid_t> other{0};
  std::atomic<bool> stop{false};
  std::thread thread([&] {
    other = gettid();
    while (!stop) usleep(1000);
  });
  while (other == 0) usleep(1000);
  const int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const std::vector<pid_t> tids = List(fd, 4096);
  close(fd);
  stop = true;
  thread.join();
  EXPECT_THAT(tids, Contains(gettid()));
  EXPECT_THAT(tids, Contains(other.load()));
}

TEST(ForEachTaskIdTest, NotADirectoryIsAnError) {
  const int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  alignas(LinuxDirent64) char buf[1024];
  int visited = 0;
  EXPECT_EQ(ForEachTaskId(fd, buf, sizeof(buf), [&](pid_t) { ++visited; }),
            ENOTDIR);
  EXPECT_EQ(visited, 0);
  close(fd);
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
