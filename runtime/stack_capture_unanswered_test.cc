// What CaptureThreadStacks says, promptly, for a thread that cannot answer:
// one that blocks the signal, has exited, is no thread, or is stuck where
// the kernel holds its signals; and when another capture holds the lock.

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/stack_capture.h"
#include "taskleak/runtime/stack_capture_test_util.h"
#include "taskleak/testing/testutil/idle_thread.h"

namespace taskleak {
namespace {

using ::testing::HasSubstr;

// A thread that blocks every signal it can until destroyed.
class MaskedThread : public internal::IdleThread {
 public:
  MaskedThread()
      : IdleThread([] {
          sigset_t all;
          sigfillset(&all);
          pthread_sigmask(SIG_BLOCK, &all, nullptr);
        }) {}
};

TEST(StackCaptureTest, ReportsThreadBlockingTheSignalWithoutWaiting) {
  MaskedThread masked;
  ParkedThread open(ParkedThread::kConditionWait);
  StackCaptureOptions options;
  options.deadline = absl::Seconds(30);
  const pid_t tids[] = {masked.tid(), open.tid()};
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks(tids, options);
  const absl::Duration elapsed = absl::Now() - start;
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  EXPECT_FALSE((*stacks)[0].available);
  EXPECT_THAT((*stacks)[0].unavailable_reason, HasSubstr("signal blocked"));
  EXPECT_THAT((*stacks)[0].unavailable_reason,
              HasSubstr(absl::StrCat("/proc/self/task/", masked.tid())));
  EXPECT_TRUE((*stacks)[0].pcs.empty());
  // The thread next to it answers, in the same capture.
  Answered((*stacks)[1]);
  // Reported from /proc at once, not after the 30 s deadline.
  EXPECT_LT(elapsed, absl::Seconds(15));
}

// A thread that blocks or unblocks every signal it can on request.
class MaskingThread {
 public:
  MaskingThread() {
    thread_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(mu_);
      tid_ = StackCaptureTestTid();
      cv_.notify_all();
      for (;;) {
        cv_.wait(lock, [this] { return requested_ != applied_ || stop_; });
        if (stop_) return;
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(requested_ ? SIG_BLOCK : SIG_UNBLOCK, &all, nullptr);
        applied_ = requested_;
        cv_.notify_all();
      }
    });
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return tid_ != 0; });
  }
  ~MaskingThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void SetBlocked(bool blocked) {
    std::unique_lock<std::mutex> lock(mu_);
    requested_ = blocked;
    cv_.notify_all();
    cv_.wait(lock, [this] { return applied_ == requested_; });
  }
  pid_t tid() const { return tid_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  pid_t tid_ = 0;
  bool requested_ = false;
  bool applied_ = false;
  bool stop_ = false;
  std::thread thread_;
};

TEST(StackCaptureTest, NoticesAnsweringThreadThatStartsBlockingTheSignal) {
  MaskingThread thread;
  const pid_t tid = thread.tid();
  StackCaptureOptions options;
  options.deadline = absl::Seconds(30);
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks({&tid, 1}, options);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  SKIP_UNLESS_ANSWERED((*stacks)[0]);

  // It answered, so the next capture asks it without reading /proc first;
  // the silence must still be explained from /proc, long before 30 s.
  thread.SetBlocked(true);
  for (int round = 0; round < 2; ++round) {
    const absl::Time start = absl::Now();
    stacks = CaptureThreadStacks({&tid, 1}, options);
    ASSERT_TRUE(stacks.ok()) << stacks.status();
    EXPECT_LT(absl::Now() - start, absl::Seconds(15));
    EXPECT_FALSE((*stacks)[0].available);
    EXPECT_THAT((*stacks)[0].unavailable_reason, HasSubstr("signal blocked"))
        << "round " << round;
  }

  // Unblocked, it runs the stale request (ignored) and answers again.
  thread.SetBlocked(false);
  stacks = CaptureThreadStacks({&tid, 1}, options);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  Answered((*stacks)[0]);
}

TEST(StackCaptureTest, ReportsExitedThread) {
  pid_t gone = 0;
  std::thread([&gone] { gone = StackCaptureTestTid(); }).join();
  ParkedThread alive(ParkedThread::kConditionWait);
  StackCaptureOptions options;
  options.deadline = absl::Seconds(30);
  const pid_t tids[] = {gone, alive.tid()};
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks(tids, options);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  EXPECT_FALSE((*stacks)[0].available);
  EXPECT_EQ((*stacks)[0].unavailable_reason, "thread exited");
  Answered((*stacks)[1]);
}

TEST(StackCaptureTest, ReportsInvalidThreadId) {
  const pid_t tids[] = {-1};
  absl::StatusOr<std::vector<ThreadStack>> stacks = CaptureThreadStacks(tids);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  EXPECT_FALSE((*stacks)[0].available);
  EXPECT_THAT((*stacks)[0].unavailable_reason, HasSubstr("not a thread id"));
}

// A thread stuck in vfork() until released: the kernel holds its signals
// until the child exits, so it cannot answer in time, then runs the handler
// late.
class VforkedThread {
 public:
  VforkedThread() {
    if (pipe2(release_, O_CLOEXEC) != 0) ADD_FAILURE() << strerror(errno);
    thread_ = std::thread([this] {
      tid_ = StackCaptureTestTid();
      const pid_t child = vfork();
      if (child == 0) {
        char byte;
        // Only async-signal-safe calls before _exit in a vfork child.
        while (read(release_[0], &byte, 1) < 0 && errno == EINTR) {
        }
        _exit(0);
      }
      int status = 0;
      if (child > 0) waitpid(child, &status, 0);
      std::unique_lock<std::mutex> lock(mu_);
      resumed_ = true;
      cv_.notify_all();
      // Stays alive, so that later captures can reach it.
      cv_.wait(lock, [this] { return finish_; });
    });
    // Waits until the thread sits in vfork, in disk sleep.
    while (tid_.load() == 0) std::this_thread::yield();
    const absl::Time give_up = absl::Now() + absl::Seconds(20);
    while (absl::Now() < give_up && State() != 'D') {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  ~VforkedThread() {
    Release();
    {
      std::lock_guard<std::mutex> lock(mu_);
      finish_ = true;
    }
    cv_.notify_all();
    thread_.join();
    close(release_[0]);
    close(release_[1]);
  }
  void Release() {
    if (released_) return;
    released_ = true;
    const char byte = 1;
    EXPECT_EQ(write(release_[1], &byte, 1), 1);
  }
  void WaitResumed() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return resumed_; });
  }
  char State() const {
    std::ifstream in(absl::StrCat("/proc/self/task/", tid_.load(), "/stat"));
    std::string line;
    std::getline(in, line);
    const size_t close = line.rfind(')');
    return close == std::string::npos || close + 2 >= line.size()
               ? '?'
               : line[close + 2];
  }
  pid_t tid() const { return tid_; }

 private:
  int release_[2] = {-1, -1};
  std::atomic<pid_t> tid_{0};
  bool released_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool resumed_ = false;
  bool finish_ = false;
  std::thread thread_;
};

TEST(StackCaptureTest, ReportsThreadThatNeverAnswersAndIgnoresItsLateAnswer) {
  if (kThreadSanitizer) GTEST_SKIP() << "ThreadSanitizer turns vfork into fork";
  VforkedThread stuck;
  ASSERT_EQ(stuck.State(), 'D') << "the thread never entered vfork";
  ParkedThread parked(ParkedThread::kConditionWait);
  const pid_t tids[] = {stuck.tid(), parked.tid()};
  StackCaptureOptions options;
  options.deadline = absl::Milliseconds(200);

  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks(tids, options);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  EXPECT_FALSE((*stacks)[0].available);
  EXPECT_THAT((*stacks)[0].unavailable_reason,
              HasSubstr("no answer within 200ms"));
  EXPECT_THAT((*stacks)[0].unavailable_reason, HasSubstr("disk sleep"));
  Answered((*stacks)[1]);

  // The request is still queued: a second capture does not queue another.
  stacks = CaptureThreadStacks(tids, options);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  EXPECT_THAT((*stacks)[0].unavailable_reason, HasSubstr("still pending"));
  Answered((*stacks)[1]);

  // Released, the thread runs the handler for the abandoned request; that
  // late answer must change nothing, and the next capture must succeed.
  stuck.Release();
  stuck.WaitResumed();
  ParkedThread other(ParkedThread::kRead);
  const pid_t next[] = {parked.tid(), other.tid(), stuck.tid()};
  stacks = CaptureThreadStacks(next, options);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  EXPECT_GE(FramesIn((*stacks)[0].pcs, parked.function()), 1);
  EXPECT_EQ(FramesIn((*stacks)[0].pcs, other.function()), 0);
  EXPECT_GE(FramesIn((*stacks)[1].pcs, other.function()), 1);
  EXPECT_EQ(FramesIn((*stacks)[1].pcs, parked.function()), 0);
  // And the once-stuck thread answers again.
  Answered((*stacks)[2]);
}

TEST(StackCaptureTest, GivesUpWaitingForAnotherLongCapture) {
  if (kThreadSanitizer) GTEST_SKIP() << "ThreadSanitizer turns vfork into fork";
  VforkedThread stuck;
  ASSERT_EQ(stuck.State(), 'D') << "the thread never entered vfork";
  const pid_t stuck_tid = stuck.tid();
  std::atomic<bool> long_capture_started{false};
  std::thread long_capture([&] {
    StackCaptureOptions options;
    options.deadline = absl::Seconds(4);
    long_capture_started = true;
    absl::StatusOr<std::vector<ThreadStack>> stacks =
        CaptureThreadStacks({&stuck_tid, 1}, options);
    EXPECT_TRUE(stacks.ok()) << stacks.status();
  });
  // Waits until the long capture has sent its request, so holds the lock.
  auto request_queued = [&] {
    const int signal = ActiveStackCaptureSignal();
    return long_capture_started.load() && signal != 0 &&
           !NothingPending(stuck_tid, signal);
  };
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!request_queued() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  if (!request_queued()) {
    long_capture.join();
    FAIL() << "the long capture never queued its request";
  }

  const pid_t self = StackCaptureTestTid();
  StackCaptureOptions options;
  options.deadline = absl::Milliseconds(100);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks({&self, 1}, options);
  const absl::Duration waited = absl::Now() - start;
  EXPECT_EQ(stacks.status().code(), absl::StatusCode::kDeadlineExceeded)
      << stacks.status();
  EXPECT_THAT(stacks.status().message(),
              HasSubstr("another stack capture in this process"));
  // Gave up after 2 * 100 ms + 1 s, long before the other capture ended.
  EXPECT_LT(waited, absl::Milliseconds(3500));
  long_capture.join();
}

}  // namespace
}  // namespace taskleak
