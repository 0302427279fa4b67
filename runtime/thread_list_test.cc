#include "taskleak/runtime/thread_list.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/internal/proc/proc_stat.h"
#include "taskleak/testing/testutil/idle_thread.h"

namespace taskleak {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

pid_t CurrentTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// A thread that names itself, reports its tid, and sleeps on a condition
// variable until destroyed.
class ParkedThread : public internal::IdleThread {
 public:
  explicit ParkedThread(const std::string& name)
      : IdleThread(
            [name] { pthread_setname_np(pthread_self(), name.c_str()); }) {}
};

const ThreadInfo* FindTid(const std::vector<ThreadInfo>& threads, pid_t tid) {
  for (const ThreadInfo& t : threads) {
    if (t.id.tid == tid) return &t;
  }
  return nullptr;
}

TEST(ThreadListTest, NamedThreadsAppearWithNamesAndStates) {
  ParkedThread a("tl-parked-a");
  ParkedThread b("tl-parked-b");
  // The wait() in ParkedThread may not have reached the futex yet.
  absl::StatusOr<std::vector<ThreadInfo>> threads;
  for (int i = 0; i < 200; ++i) {
    threads = ListThreads();
    ASSERT_TRUE(threads.ok()) << threads.status();
    const ThreadInfo* ta = FindTid(*threads, a.tid());
    const ThreadInfo* tb = FindTid(*threads, b.tid());
    if (ta && tb && ta->state == 'S' && tb->state == 'S') break;
    usleep(1000);
  }
  const ThreadInfo* ta = FindTid(*threads, a.tid());
  const ThreadInfo* tb = FindTid(*threads, b.tid());
  ASSERT_NE(ta, nullptr);
  ASSERT_NE(tb, nullptr);
  EXPECT_EQ(ta->name, "tl-parked-a");
  EXPECT_EQ(tb->name, "tl-parked-b");
  EXPECT_EQ(ta->state, 'S');
  EXPECT_STREQ(ThreadStateName(ta->state), "sleeping");
  EXPECT_GT(ta->id.start_ticks, 0u);
  EXPECT_LE(absl::Now() - ta->start_time, absl::Minutes(10));
}

TEST(ThreadListTest, SpinningThreadIsRunningAndUsesCpu) {
  std::atomic<bool> stop{false};
  std::atomic<pid_t> tid{0};
  std::thread spinner([&] {
    pthread_setname_np(pthread_self(), "tl-spinner");
    tid = CurrentTid();
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  while (tid == 0) std::this_thread::yield();
  absl::StatusOr<ThreadInfo> info;
  for (int i = 0; i < 500; ++i) {
    info = ReadThreadInfo(tid);
    ASSERT_TRUE(info.ok()) << info.status();
    if (info->cpu_time > absl::ZeroDuration()) break;
    usleep(2000);
  }
  stop = true;
  spinner.join();
  EXPECT_EQ(info->name, "tl-spinner");
  EXPECT_EQ(info->state, 'R');
  EXPECT_GT(info->cpu_time, absl::ZeroDuration());
}

TEST(ThreadListTest, ExitedThreadsDisappear) {
  pid_t tid = 0;
  {
    ParkedThread t("tl-short");
    tid = t.tid();
    absl::StatusOr<std::vector<pid_t>> tids = ListThreadIds();
    ASSERT_TRUE(tids.ok()) << tids.status();
    EXPECT_THAT(*tids, Contains(tid));
  }
  // Joined: the kernel cleared its tid, but may release its /proc entry a
  // moment later.
  absl::StatusOr<std::vector<pid_t>> tids = ListThreadIds();
  for (int i = 0; i < 1000 && tids.ok() &&
                  std::find(tids->begin(), tids->end(), tid) != tids->end();
       ++i) {
    usleep(1000);
    tids = ListThreadIds();
  }
  ASSERT_TRUE(tids.ok()) << tids.status();
  EXPECT_THAT(*tids, Not(Contains(tid)));
  EXPECT_TRUE(absl::IsNotFound(ReadThreadInfo(tid).status()));
}

// One result per tid, in order: a live thread's details, NotFound for one
// that has exited, the directory's error for all if it cannot be opened.
TEST(ThreadListTest, ReadEachThreadInfoAnswersForEveryTid) {
  pid_t gone = 0;
  { gone = ParkedThread("tl-gone").tid(); }
  ParkedThread live("tl-each");
  const std::vector<absl::StatusOr<ThreadInfo>> infos =
      ReadEachThreadInfo({live.tid(), gone, live.tid()});
  ASSERT_EQ(infos.size(), 3u);
  ASSERT_TRUE(infos[0].ok()) << infos[0].status();
  EXPECT_EQ(infos[0]->name, "tl-each");
  EXPECT_EQ(infos[0]->id.tid, live.tid());
  EXPECT_TRUE(absl::IsNotFound(infos[1].status())) << infos[1].status();
  ASSERT_TRUE(infos[2].ok());
  EXPECT_EQ(infos[2]->id, infos[0]->id);

  const std::vector<absl::StatusOr<ThreadInfo>> missing =
      ReadEachThreadInfo({live.tid(), gone}, {"/nonexistent-proc/self/task"});
  ASSERT_EQ(missing.size(), 2u);
  for (const absl::StatusOr<ThreadInfo>& info : missing) {
    EXPECT_THAT(info.status().message(),
                HasSubstr("/nonexistent-proc/self/task"));
  }
}

TEST(ThreadListTest, CountMatchesList) {
  ParkedThread a("tl-count");
  absl::StatusOr<int> count = CountThreads();
  absl::StatusOr<std::vector<pid_t>> tids = ListThreadIds();
  ASSERT_TRUE(count.ok()) << count.status();
  ASSERT_TRUE(tids.ok()) << tids.status();
  EXPECT_EQ(*count, static_cast<int>(tids->size()));
  EXPECT_GE(*count, 2);
}

TEST(ThreadListTest, LiveThreadCountFollowsThreadsAsTheyStartAndEnd) {
  absl::StatusOr<int> before = LiveThreadCount();
  ASSERT_TRUE(before.ok()) << before.status();
  absl::StatusOr<int> listed = CountThreads();
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(*before, *listed);
  {
    ParkedThread a("tl-live-a");
    ParkedThread b("tl-live-b");
    EXPECT_EQ(*LiveThreadCount(), *before + 2);
  }
  // A joined thread may linger in /proc for a moment.
  for (int i = 0; i < 1000 && *LiveThreadCount() != *before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(*LiveThreadCount(), *before);
}

TEST(ThreadListTest, LiveThreadCountSurvivesItsDescriptorBeingClosed) {
  ASSERT_TRUE(LiveThreadCount().ok());
  // The program closes a descriptor it does not know (ours), then reuses the
  // number for a file of its own.
  const std::string task_dir = absl::StrCat("/proc/", getpid(), "/task");
  std::vector<int> reused;
  for (int fd = 3; fd < 1024; ++fd) {
    char target[256];
    const ssize_t n = readlink(absl::StrCat("/proc/self/fd/", fd).c_str(),
                               target, sizeof(target));
    if (n > 0 && std::string(target, n) == task_dir) {
      close(fd);
      reused.push_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
  }
  ASSERT_THAT(reused, SizeIs(1));
  absl::StatusOr<int> count = LiveThreadCount();
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, *CountThreads());
  for (int fd : reused) close(fd);
}

// Makes the kernel hand out `tid` to the next thread, if this process may
// (root in its pid namespace). Returns false otherwise.
bool SetNextTid(pid_t tid) {
  int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string value = std::to_string(tid - 1);
  bool ok = write(fd, value.data(), value.size()) ==
            static_cast<ssize_t>(value.size());
  close(fd);
  return ok;
}

TEST(ThreadListTest, ReusedTidIsADifferentIdentity) {
  ThreadId first;
  {
    ParkedThread t("tl-first");
    absl::StatusOr<ThreadInfo> info = ReadThreadInfo(t.tid());
    ASSERT_TRUE(info.ok()) << info.status();
    first = info->id;
  }
  // Start times are in clock ticks: make sure the next thread starts later.
  usleep(30 * 1000);
  // Other processes may take the tid first; a few tries are enough.
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (!SetNextTid(first.tid)) {
      GTEST_SKIP() << "cannot write /proc/sys/kernel/ns_last_pid (not root?)";
    }
    ParkedThread t("tl-second");
    if (t.tid() != first.tid) continue;
    absl::StatusOr<ThreadInfo> info = ReadThreadInfo(t.tid());
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->id.tid, first.tid);
    EXPECT_NE(info->id, first);
    EXPECT_GT(info->id.start_ticks, first.start_ticks);
    return;
  }
  FAIL() << "the kernel never reused tid " << first.tid;
}

// A fake task directory, to test what real /proc will not show on demand.
class FakeTaskDir {
 public:
  FakeTaskDir() {
    const char* tmp = getenv("TEST_TMPDIR");
    std::string pattern = absl::StrCat(tmp ? tmp : "/tmp", "/taskXXXXXX");
    dir_ = mkdtemp(pattern.data());
  }
  void SetStat(pid_t tid, const std::string& line) {
    std::string sub = absl::StrCat(dir_, "/", tid);
    mkdir(sub.c_str(), 0755);
    std::ofstream(sub + "/stat") << line;
  }
  ThreadListOptions options() const { return {dir_}; }

 private:
  std::string dir_;
};

std::string StatLine(pid_t tid, const std::string& name, char state,
                     int start_ticks) {
  return absl::StrCat(tid, " (", name, ") ", std::string(1, state),
                      " 1 1 1 0 -1 4194368 0 0 0 0 7 3 0 0 20 0 1 0 ",
                      start_ticks, " 0 0\n");
}

TEST(ThreadListTest, SameTidWithNewStartTimeIsANewIdentity) {
  FakeTaskDir dir;
  dir.SetStat(42, StatLine(42, "old", 'S', 100));
  absl::StatusOr<ThreadInfo> before = ReadThreadInfo(42, dir.options());
  dir.SetStat(42, StatLine(42, "new", 'R', 250));
  absl::StatusOr<ThreadInfo> after = ReadThreadInfo(42, dir.options());
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_NE(before->id, after->id);
  EXPECT_EQ(after->name, "new");
  EXPECT_EQ(after->state, 'R');
}

TEST(ThreadListTest, MissingProcIsAClearError) {
  ThreadListOptions options{"/nonexistent-proc/self/task"};
  absl::StatusOr<std::vector<ThreadInfo>> threads = ListThreads(options);
  ASSERT_FALSE(threads.ok());
  EXPECT_THAT(threads.status().message(),
              HasSubstr("/nonexistent-proc/self/task"));
  EXPECT_THAT(threads.status().message(), HasSubstr("is /proc mounted"));
  EXPECT_FALSE(CountThreads(options).ok());
  EXPECT_FALSE(ListThreadIds(options).ok());
  EXPECT_FALSE(ReadThreadInfo(1, options).ok());
}

TEST(ThreadListTest, VanishedEntryIsSkippedAndMalformedOneIsAnError) {
  FakeTaskDir dir;
  dir.SetStat(7, StatLine(7, "alive", 'S', 5));
  // A directory without a stat file: the thread exited while we listed.
  dir.SetStat(8, "");
  absl::StatusOr<std::vector<ThreadInfo>> threads = ListThreads(dir.options());
  ASSERT_TRUE(threads.ok()) << threads.status();
  ASSERT_EQ(threads->size(), 1u);
  EXPECT_EQ((*threads)[0].name, "alive");

  dir.SetStat(9, "9 garbage\n");
  threads = ListThreads(dir.options());
  ASSERT_FALSE(threads.ok());
  EXPECT_THAT(threads.status().message(), HasSubstr("malformed stat line"));
}

TEST(ProcStatTest, NameMayContainParenthesesAndSpaces) {
  absl::StatusOr<internal::ProcStat> stat =
      internal::ParseProcStat(StatLine(12, "a) (b c)", 'D', 99));
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->name, "a) (b c)");
  EXPECT_EQ(stat->state, 'D');
  EXPECT_EQ(stat->utime_ticks, 7u);
  EXPECT_EQ(stat->stime_ticks, 3u);
  EXPECT_EQ(stat->start_ticks, 99u);
}

TEST(ProcStatTest, TruncatedLineIsRejected) {
  EXPECT_FALSE(internal::ParseProcStat("12 (x) S 1 1").ok());
  EXPECT_FALSE(internal::ParseProcStat("no parentheses at all").ok());
  // Ends exactly at the start time (field 22), without a newline: complete.
  EXPECT_TRUE(
      internal::ParseProcStat("1 (x) S 0 0 0 0 0 0 0 0 0 0 5 6 0 0 0 0 0 0 77")
          .ok());
  // Ends one field short of it.
  EXPECT_FALSE(
      internal::ParseProcStat("1 (x) S 0 0 0 0 0 0 0 0 0 0 5 6 0 0 0 0 0 0")
          .ok());
}

TEST(ProcStatTest, NonNumericTimeFieldIsRejected) {
  std::string line = StatLine(12, "x", 'S', 99);
  // utime is field 14: the 12th after the name.
  std::vector<std::string> fields = absl::StrSplit(line, ' ');
  fields[13] = "7x";
  absl::StatusOr<internal::ProcStat> stat =
      internal::ParseProcStat(absl::StrJoin(fields, " "));
  ASSERT_FALSE(stat.ok());
  EXPECT_THAT(stat.status().message(), HasSubstr("bad fields"));
}

TEST(ThreadListTest, LiveThreadCountOfAPlainDirectoryIsAClearError) {
  FakeTaskDir dir;
  absl::StatusOr<int> count = LiveThreadCount(dir.options());
  ASSERT_FALSE(count.ok());
  EXPECT_THAT(count.status().message(), HasSubstr("link count"));
  EXPECT_FALSE(
      LiveThreadCount(ThreadListOptions{"/nonexistent-proc/self/task"}).ok());
}

}  // namespace
}  // namespace taskleak
