// CaptureThreadStacks and CaptureAllThreadStacks on threads that answer:
// which frames come back, how many, and under concurrent use. Threads that
// cannot answer are in stack_capture_unanswered_test.cc, the choice of
// signal in stack_capture_signal_test.cc.

#include "taskleak/runtime/stack_capture.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/stack_capture_test_util.h"
#include "taskleak/runtime/thread_list.h"

namespace taskleak {

// External linkage, so that dladdr (the test links with -rdynamic) names it.
ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<std::vector<ThreadStack>>
StackCaptureTestCaptureSelf() {
  const pid_t self = StackCaptureTestTid();
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks({&self, 1});
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return stacks;
}

namespace {

using ::testing::HasSubstr;

TEST(StackCaptureTest, CapturesThreadsParkedInDistinctFunctions) {
  std::vector<std::unique_ptr<ParkedThread>> threads = ParkOneOfEach();
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks(TidsOf(threads));
  // Within the 500 ms deadline, plus generous slack for a loaded machine;
  // this only catches a capture that waits on something it should not.
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  ASSERT_EQ(stacks->size(), threads.size());
  for (size_t i = 0; i < threads.size(); ++i) {
    EXPECT_EQ((*stacks)[i].tid, threads[i]->tid()) << "order must be kept";
  }
  ExpectParkedStacks(*stacks, threads);
  EXPECT_NE(ActiveStackCaptureSignal(), 0);
}

// Under ThreadSanitizer a signal reaches a thread blocked in one of TSan's
// blocking interceptors (condition waits, sleeps; also sem_wait, poll,
// pthread_join) at once: TSan runs the handler inside the call. A thread
// blocked in read() or pthread_mutex_lock, which TSan does not treat as
// blocking, answers only once the call returns. This is what a hang dump
// can and cannot show under TSan (README, "Hung tests").
TEST(StackCaptureTest, UnderTsanThreadsInBlockingInterceptorsAnswer) {
  if (!kThreadSanitizer) {
    GTEST_SKIP() << "outside ThreadSanitizer every parked thread answers "
                    "(CapturesThreadsParkedInDistinctFunctions)";
  }
  ParkedThread waiting(ParkedThread::kConditionWait);
  ParkedThread sleeping(ParkedThread::kSleep);
  ParkedThread locking(ParkedThread::kMutexLock);
  ParkedThread reading(ParkedThread::kRead);
  const std::vector<pid_t> tids = {waiting.tid(), sleeping.tid(), locking.tid(),
                                   reading.tid()};
  StackCaptureOptions options;
  options.deadline = absl::Milliseconds(300);
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks(tids, options);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  for (const ParkedThread* answers : {&waiting, &sleeping}) {
    const ThreadStack& stack = Find(*stacks, answers->tid());
    ASSERT_TRUE(stack.available) << stack.unavailable_reason;
    EXPECT_GE(FramesIn(stack.pcs, answers->function()), 1);
  }
  for (const ParkedThread* silent : {&locking, &reading}) {
    const ThreadStack& stack = Find(*stacks, silent->tid());
    EXPECT_FALSE(stack.available);
    EXPECT_THAT(stack.unavailable_reason, HasSubstr("no answer within"));
  }
}

TEST(StackCaptureTest, DeepRecursionIsCapturedUpToMaxFrames) {
  ParkedThread deep(ParkedThread::kRecursion, /*depth=*/40);
  const pid_t tid = deep.tid();
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks({&tid, 1});
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  SKIP_UNLESS_ANSWERED((*stacks)[0]);
  // 41 calls of the function (depths 40..0) fit in the default 64 frames.
  EXPECT_EQ(FramesIn((*stacks)[0].pcs, deep.function()), 41);

  StackCaptureOptions options;
  options.max_frames = 8;
  stacks = CaptureThreadStacks({&tid, 1}, options);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  SKIP_UNLESS_ANSWERED((*stacks)[0]);
  EXPECT_EQ((*stacks)[0].pcs.size(), 8u);
}

TEST(StackCaptureTest, HonoursMoreFramesThanTheDefault) {
  ParkedThread deep(ParkedThread::kRecursion, /*depth=*/150);
  const pid_t tid = deep.tid();
  StackCaptureOptions options;
  options.max_frames = 400;
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks({&tid, 1}, options);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  SKIP_UNLESS_ANSWERED((*stacks)[0]);
  EXPECT_EQ(FramesIn((*stacks)[0].pcs, deep.function()), 151);
  EXPECT_LT((*stacks)[0].pcs.size(), 400u) << "the walk must end";
}

TEST(StackCaptureTest, CapturesCallingThread) {
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      StackCaptureTestCaptureSelf();
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  ASSERT_EQ(stacks->size(), 1u);
  const ThreadStack& self = (*stacks)[0];
  EXPECT_EQ(self.tid, StackCaptureTestTid());
  SKIP_UNLESS_ANSWERED(self);
  EXPECT_EQ(FramesIn(self.pcs, Address(&StackCaptureTestCaptureSelf)), 1);
  // The trace starts at the public entry point, not in the machinery.
  EXPECT_EQ(FramesIn(self.pcs, Address(&CaptureThreadStacks)), 1);
  Dl_info info;
  ASSERT_NE(dladdr(reinterpret_cast<void*>(self.pcs[0]), &info), 0);
  EXPECT_EQ(info.dli_saddr, Address(&CaptureThreadStacks));
}

TEST(StackCaptureTest, CaptureAllThreadStacksCoversEveryThread) {
  std::vector<std::unique_ptr<ParkedThread>> threads = ParkOneOfEach();
  absl::StatusOr<std::vector<pid_t>> before = ListThreadIds();
  ASSERT_TRUE(before.ok()) << before.status();
  absl::StatusOr<std::vector<ThreadStack>> stacks = CaptureAllThreadStacks();
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  // Nothing starts or exits in this test, so the lists match.
  EXPECT_EQ(stacks->size(), before->size());
  for (pid_t tid : *before) {
    const ThreadStack& stack = Find(*stacks, tid);
    if (!stack.available) {
      // ThreadSanitizer's own thread blocks every signal.
      EXPECT_TRUE(kThreadSanitizer) << tid << ": " << stack.unavailable_reason;
      EXPECT_FALSE(stack.unavailable_reason.empty());
    }
  }
  ExpectParkedStacks(*stacks, threads);
  const ThreadStack& self = Find(*stacks, StackCaptureTestTid());
  ASSERT_FALSE(self.pcs.empty());
  Dl_info info;
  ASSERT_NE(dladdr(reinterpret_cast<void*>(self.pcs[0]), &info), 0);
  EXPECT_EQ(info.dli_saddr, Address(&CaptureAllThreadStacks));
}

TEST(StackCaptureTest, ConcurrentCapturesBothSucceed) {
  std::vector<std::unique_ptr<ParkedThread>> threads = ParkOneOfEach();
  std::atomic<pid_t> capturer_tids[2] = {{0}, {0}};
  std::atomic<int> started{0};
  auto capture = [&](int me) {
    capturer_tids[me] = StackCaptureTestTid();
    ++started;
    while (started.load() < 2) std::this_thread::yield();
    // Under ThreadSanitizer, a round can take the whole deadline.
    const int rounds = kThreadSanitizer ? 3 : 20;
    for (int round = 0; round < rounds; ++round) {
      std::vector<pid_t> tids = TidsOf(threads);
      tids.push_back(capturer_tids[1 - me]);
      absl::StatusOr<std::vector<ThreadStack>> stacks =
          CaptureThreadStacks(tids);
      ASSERT_TRUE(stacks.ok()) << stacks.status();
      ExpectParkedStacks(*stacks, threads);
      // The other capturer is alive until both finish, so it answers too.
      Answered(stacks->back());
    }
  };
  std::atomic<int> finished{0};
  auto run = [&](int me) {
    capture(me);
    ++finished;
    while (finished.load() < 2) std::this_thread::yield();
  };
  std::thread a(run, 0);
  std::thread b(run, 1);
  a.join();
  b.join();
}

TEST(StackCaptureTest, SurvivesThreadsStartingAndExiting) {
  constexpr int kThreads = 1000;
  constexpr int kSpawners = 4;
  std::atomic<int> created{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> spawners;
  for (int s = 0; s < kSpawners; ++s) {
    spawners.emplace_back([&] {
      while (!stop.load()) {
        if (created.fetch_add(1) >= kThreads) break;
        // Each lives briefly, so captures meet threads at every stage of
        // their life.
        std::thread([] {
          timespec nap = {0, 2 * 1000 * 1000};
          nanosleep(&nap, nullptr);
        }).join();
      }
    });
  }
  const absl::Time give_up = absl::Now() + absl::Seconds(2);
  int captures = 0;
  int answered = 0;
  StackCaptureOptions options;
  options.deadline = absl::Milliseconds(200);
  while (absl::Now() < give_up && (created.load() < kThreads || captures < 3)) {
    absl::StatusOr<std::vector<ThreadStack>> stacks =
        CaptureAllThreadStacks(options);
    ASSERT_TRUE(stacks.ok()) << stacks.status();
    ++captures;
    for (const ThreadStack& stack : *stacks) {
      EXPECT_NE(stack.tid, 0);
      EXPECT_EQ(stack.available, !stack.pcs.empty());
      EXPECT_EQ(stack.available, stack.unavailable_reason.empty())
          << stack.unavailable_reason;
      if (stack.available) ++answered;
    }
  }
  stop = true;
  for (std::thread& spawner : spawners) spawner.join();
  EXPECT_GE(captures, 3);
  // Every capture answers at least for the calling thread and the spawners.
  EXPECT_GE(answered, captures);
}

// The cost the header documents: nanosleep is not restarted.
TEST(StackCaptureTest, InterruptsNanosleepButRestartsRead) {
  if (kThreadSanitizer) {
    GTEST_SKIP() << "ThreadSanitizer defers the signal past the system call";
  }
  std::atomic<pid_t> sleeper_tid{0};
  int sleep_errno = 0;
  std::thread sleeper([&] {
    sleeper_tid = StackCaptureTestTid();
    timespec nap = {10, 0};
    if (nanosleep(&nap, nullptr) != 0) sleep_errno = errno;
  });
  Latch reader_latch;
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  ssize_t read_result = 0;
  int read_errno = 0;
  std::thread reader([&] {
    reader_latch.Open(StackCaptureTestTid());
    char byte;
    read_result = read(fds[0], &byte, 1);
    if (read_result < 0) read_errno = errno;
  });
  const pid_t reader_tid = reader_latch.Wait();
  while (sleeper_tid.load() == 0) std::this_thread::yield();
  // Waits until both sit in their system calls (230: clock_nanosleep, 35:
  // nanosleep, 0: read on x86-64).
  auto in_syscall = [](pid_t tid, std::vector<std::string> numbers) {
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (absl::Now() < give_up) {
      std::ifstream in(absl::StrCat("/proc/self/task/", tid, "/syscall"));
      std::string first;
      in >> first;
      if (std::find(numbers.begin(), numbers.end(), first) != numbers.end()) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    return false;
  };
  ASSERT_TRUE(in_syscall(sleeper_tid, {"230", "35"}));
  ASSERT_TRUE(in_syscall(reader_tid, {"0"}));
  const pid_t tids[] = {sleeper_tid, reader_tid};
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<ThreadStack>> stacks = CaptureThreadStacks(tids);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  Answered((*stacks)[0]);
  Answered((*stacks)[1]);
  sleeper.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(9));
  EXPECT_EQ(sleep_errno, EINTR);
  const char byte = 1;
  ASSERT_EQ(write(fds[1], &byte, 1), 1);
  reader.join();
  EXPECT_EQ(read_result, 1) << "read failed: " << strerror(read_errno);
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace taskleak
