#include "taskleak/runtime/stack_capture.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/config.h"
#include "absl/base/optimization.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/internal/proc/task_status.h"
#include "taskleak/runtime/internal/timed_lock.h"
#include "taskleak/runtime/thread_list.h"
#include "taskleak/testing/testutil/idle_thread.h"

namespace taskleak {

// The functions threads park in. They have external linkage so that the
// test binary (linked with -rdynamic) exports them to dladdr, and are never
// inlined so that they keep a frame of their own.

// What a parked thread waits on.
struct Parking {
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;          // Guarded by mu.
  std::mutex held;                // Locked by the test while threads park.
  std::atomic<bool> stop{false};  // For the sleeping thread.
  int pipe_fds[2] = {-1, -1};
};

// Reports that the calling thread is about to park.
class Latch {
 public:
  void Open(pid_t tid) {
    std::lock_guard<std::mutex> lock(mu_);
    tid_ = tid;
    cv_.notify_all();
  }
  pid_t Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return tid_ != 0; });
    return tid_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  pid_t tid_ = 0;
};

pid_t StackCaptureTestTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

ABSL_ATTRIBUTE_NOINLINE void StackCaptureTestParkInConditionWait(
    Parking* parking, Latch* latch) {
  std::unique_lock<std::mutex> lock(parking->mu);
  latch->Open(StackCaptureTestTid());
  parking->cv.wait(lock, [parking] { return parking->released; });
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE void StackCaptureTestParkInMutexLock(Parking* parking,
                                                             Latch* latch) {
  latch->Open(StackCaptureTestTid());
  parking->held.lock();
  parking->held.unlock();
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE ssize_t StackCaptureTestParkInRead(Parking* parking,
                                                           Latch* latch) {
  latch->Open(StackCaptureTestTid());
  char byte;
  const ssize_t n = read(parking->pipe_fds[0], &byte, 1);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return n;
}

ABSL_ATTRIBUTE_NOINLINE void StackCaptureTestParkInSleep(Parking* parking,
                                                         Latch* latch) {
  latch->Open(StackCaptureTestTid());
  while (!parking->stop.load()) {
    timespec nap = {0, 20 * 1000 * 1000};
    nanosleep(&nap, nullptr);
  }
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
}

ABSL_ATTRIBUTE_NOINLINE int StackCaptureTestRecurse(int depth, Parking* parking,
                                                    Latch* latch) {
  if (depth == 0) {
    // Parks here rather than in another parking function, so that the
    // stack shows this one function only.
    std::unique_lock<std::mutex> lock(parking->mu);
    latch->Open(StackCaptureTestTid());
    parking->cv.wait(lock, [parking] { return parking->released; });
    return 0;
  }
  const int result = StackCaptureTestRecurse(depth - 1, parking, latch) + 1;
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return result;
}

ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<std::vector<ThreadStack>>
StackCaptureTestCaptureSelf() {
  const pid_t self = StackCaptureTestTid();
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks({&self, 1});
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return stacks;
}

// LeakSanitizer's check at exit stops every thread with ptrace; inside
// Bazel's test sandbox that fails after these tests ("LeakSanitizer has
// encountered a fatal error"), though the same binary passes outside it.
// The capture code still runs under AddressSanitizer; only the exit-time
// leak check is off for this binary.
extern "C" int __lsan_is_turned_off() { return 1; }

namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;

#ifdef ABSL_HAVE_THREAD_SANITIZER
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif

// True if `stack` is available. Under ThreadSanitizer, signals wait for the
// sanitizer's safe points, which a thread blocked in read() or on a mutex may
// not reach by the deadline, and the sanitizer blocks every signal while it
// runs a delayed handler: the capture must then say one or the other, and
// the caller skips its checks of the stack.
bool Answered(const ThreadStack& stack) {
  if (stack.available) return true;
  if (kThreadSanitizer) {
    EXPECT_THAT(stack.unavailable_reason, AnyOf(HasSubstr("no answer within"),
                                                HasSubstr("signal blocked")));
  } else {
    ADD_FAILURE() << "tid " << stack.tid << ": " << stack.unavailable_reason;
  }
  return false;
}

// Ends the test here if `stack` is unavailable: skipped under TSan (with
// the reason Answered checked), failed elsewhere (Answered failed it).
#define SKIP_UNLESS_ANSWERED(stack)                                      \
  if (!Answered(stack))                                                  \
  GTEST_SKIP() << "tid " << (stack).tid << " gave no stack under "       \
               << "ThreadSanitizer (signals wait for its safe points): " \
               << (stack).unavailable_reason

// How many entries of `pcs` lie in the function starting at `function`.
int FramesIn(const std::vector<uintptr_t>& pcs, const void* function) {
  int count = 0;
  for (uintptr_t pc : pcs) {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(pc), &info) != 0 &&
        info.dli_saddr == function) {
      ++count;
    }
  }
  return count;
}

template <typename F>
const void* Address(F* function) {
  return reinterpret_cast<const void*>(function);
}

// Returns what `tid` maps to in `stacks`, failing the test if absent.
const ThreadStack& Find(const std::vector<ThreadStack>& stacks, pid_t tid) {
  for (const ThreadStack& stack : stacks) {
    if (stack.tid == tid) return stack;
  }
  ADD_FAILURE() << "no entry for tid " << tid;
  static const ThreadStack* missing = new ThreadStack;
  return *missing;
}

// A thread parked in one of the functions above until the object is
// destroyed.
class ParkedThread {
 public:
  enum Kind { kConditionWait, kMutexLock, kRead, kSleep, kRecursion };

  explicit ParkedThread(Kind kind, int depth = 40)
      : kind_(kind), parking_(std::make_unique<Parking>()) {
    if (kind == kMutexLock) parking_->held.lock();
    if (kind == kRead) {
      if (pipe2(parking_->pipe_fds, O_CLOEXEC) != 0) {
        ADD_FAILURE() << "pipe2: " << strerror(errno);
      }
    }
    Parking* parking = parking_.get();
    Latch* latch = &latch_;
    thread_ = std::thread([kind, depth, parking, latch] {
      switch (kind) {
        case kConditionWait:
          StackCaptureTestParkInConditionWait(parking, latch);
          break;
        case kMutexLock:
          StackCaptureTestParkInMutexLock(parking, latch);
          break;
        case kRead:
          StackCaptureTestParkInRead(parking, latch);
          break;
        case kSleep:
          StackCaptureTestParkInSleep(parking, latch);
          break;
        case kRecursion:
          StackCaptureTestRecurse(depth, parking, latch);
          break;
      }
    });
    tid_ = latch_.Wait();
  }

  ~ParkedThread() {
    {
      std::lock_guard<std::mutex> lock(parking_->mu);
      parking_->released = true;
    }
    parking_->cv.notify_all();
    if (kind_ == kMutexLock) parking_->held.unlock();
    if (kind_ == kRead) {
      const char byte = 1;
      EXPECT_EQ(write(parking_->pipe_fds[1], &byte, 1), 1);
    }
    parking_->stop = true;
    thread_.join();
    if (kind_ == kRead) {
      close(parking_->pipe_fds[0]);
      close(parking_->pipe_fds[1]);
    }
  }

  pid_t tid() const { return tid_; }

  // The function this thread is parked in.
  const void* function() const {
    switch (kind_) {
      case kConditionWait:
        return Address(&StackCaptureTestParkInConditionWait);
      case kMutexLock:
        return Address(&StackCaptureTestParkInMutexLock);
      case kRead:
        return Address(&StackCaptureTestParkInRead);
      case kSleep:
        return Address(&StackCaptureTestParkInSleep);
      case kRecursion:
        return Address(&StackCaptureTestRecurse);
    }
    return nullptr;
  }

 private:
  Kind kind_;
  std::unique_ptr<Parking> parking_;  // Outlives the thread.
  Latch latch_;
  pid_t tid_ = 0;
  std::thread thread_;
};

std::vector<std::unique_ptr<ParkedThread>> ParkOneOfEach() {
  std::vector<std::unique_ptr<ParkedThread>> threads;
  for (ParkedThread::Kind kind :
       {ParkedThread::kConditionWait, ParkedThread::kMutexLock,
        ParkedThread::kRead, ParkedThread::kSleep, ParkedThread::kRecursion}) {
    threads.push_back(std::make_unique<ParkedThread>(kind));
  }
  return threads;
}

// Checks that each parked thread's stack is available and passes through the
// function it parked in, and through none of the others'.
void ExpectParkedStacks(
    const std::vector<ThreadStack>& stacks,
    const std::vector<std::unique_ptr<ParkedThread>>& threads) {
  int answered = 0;
  for (const auto& thread : threads) {
    const ThreadStack& stack = Find(stacks, thread->tid());
    if (!Answered(stack)) continue;
    ++answered;
    EXPECT_THAT(stack.unavailable_reason, testing::IsEmpty());
    EXPECT_FALSE(stack.pcs.empty());
    EXPECT_GE(FramesIn(stack.pcs, thread->function()), 1)
        << "tid " << thread->tid() << " lacks its parking function";
    for (const auto& other : threads) {
      if (other->function() == thread->function()) continue;
      EXPECT_EQ(FramesIn(stack.pcs, other->function()), 0)
          << "tid " << thread->tid() << " shows another thread's function";
    }
  }
  if (answered == 0) {
    GTEST_SKIP() << "no parked thread answered under ThreadSanitizer "
                    "(signals wait for its safe points)";
  }
}

std::vector<pid_t> TidsOf(
    const std::vector<std::unique_ptr<ParkedThread>>& threads) {
  std::vector<pid_t> tids;
  for (const auto& thread : threads) tids.push_back(thread->tid());
  return tids;
}

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

// True once no signal `signal` waits for thread `tid` or the process.
bool NothingPending(pid_t tid, int signal) {
  std::ifstream in(absl::StrCat("/proc/self/task/", tid, "/status"));
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  absl::StatusOr<internal::TaskStatus> status = internal::ParseTaskStatus(text);
  if (!status.ok()) return false;
  const size_t shared = text.find("ShdPnd:\t");
  uint64_t shared_mask = 0;
  if (shared != std::string::npos) {
    shared_mask = std::stoull(text.substr(shared + 8, 16), nullptr, 16);
  }
  return !internal::HasSignal(status->pending, signal) &&
         !internal::HasSignal(shared_mask, signal);
}

TEST(StackCaptureTest, IgnoresSignalsItDidNotQueue) {
  ParkedThread parked(ParkedThread::kConditionWait);
  const pid_t tid = parked.tid();
  ASSERT_TRUE(CaptureThreadStacks({&tid, 1}).ok());  // Installs the handler.
  const int signal = ActiveStackCaptureSignal();
  ASSERT_NE(signal, 0);

  // From this process but not queued (SI_TKILL).
  ASSERT_EQ(syscall(SYS_tgkill, getpid(), tid, signal), 0);
  // Queued by this process with values naming no armed slot.
  for (uintptr_t value : {uintptr_t{0}, ~uintptr_t{0}, uintptr_t{12345}}) {
    sigval v;
    v.sival_ptr = reinterpret_cast<void*>(value);
    ASSERT_EQ(sigqueue(getpid(), signal, v), 0);
  }
  // Queued by another process.
  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child == 0) {
    sigval v;
    v.sival_ptr = nullptr;
    _exit(sigqueue(parent, signal, v) == 0 ? 0 : 1);
  }
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  // All of them are delivered and ignored (the default action would have
  // ended the process), and capture still works.
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!NothingPending(tid, signal) && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_TRUE(NothingPending(tid, signal));
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks({&tid, 1});
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  SKIP_UNLESS_ANSWERED((*stacks)[0]);
  EXPECT_GE(FramesIn((*stacks)[0].pcs, parked.function()), 1);
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

// Installs a handler of the program's own on `signal` and restores the
// previous disposition when destroyed.
void ProgramHandler(int) {}

class ProgramSignalHandler {
 public:
  explicit ProgramSignalHandler(int signal) : signal_(signal) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = &ProgramHandler;
    sigemptyset(&action.sa_mask);
    EXPECT_EQ(sigaction(signal, &action, &previous_), 0);
  }
  ~ProgramSignalHandler() { sigaction(signal_, &previous_, nullptr); }
  bool StillInstalled() const {
    struct sigaction now;
    sigaction(signal_, nullptr, &now);
    return (now.sa_flags & SA_SIGINFO) == 0 &&
           now.sa_handler == &ProgramHandler;
  }

 private:
  int signal_;
  struct sigaction previous_;
};

bool IsDefault(int signal) {
  struct sigaction now;
  sigaction(signal, nullptr, &now);
  return (now.sa_flags & SA_SIGINFO) == 0 && now.sa_handler == SIG_DFL;
}

TEST(StackCaptureTest, NeverReplacesProgramHandlerOnConfiguredSignal) {
  const int taken = SIGRTMIN + 2;
  ASSERT_TRUE(IsDefault(taken)) << "the test needs a free signal";
  ProgramSignalHandler handler(taken);
  ParkedThread parked(ParkedThread::kConditionWait);
  const pid_t tid = parked.tid();
  StackCaptureOptions options;
  options.signal = taken;
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks({&tid, 1}, options);
  EXPECT_EQ(stacks.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(stacks.status().message(),
              HasSubstr(absl::StrCat("signal ", taken,
                                     " already has a handler installed")));
  EXPECT_TRUE(handler.StillInstalled());

  // Automatic choice steps around it.
  options.signal = 0;
  stacks = CaptureThreadStacks({&tid, 1}, options);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  Answered((*stacks)[0]);
  EXPECT_NE(ActiveStackCaptureSignal(), taken);
  EXPECT_TRUE(handler.StillInstalled());
}

TEST(StackCaptureTest, RefusesIgnoredSignal) {
  const int ignored = SIGRTMIN + 3;
  ASSERT_TRUE(IsDefault(ignored)) << "the test needs a free signal";
  signal(ignored, SIG_IGN);
  ParkedThread parked(ParkedThread::kConditionWait);
  const pid_t tid = parked.tid();
  StackCaptureOptions options;
  options.signal = ignored;
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks({&tid, 1}, options);
  EXPECT_EQ(stacks.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(stacks.status().message(), HasSubstr("ignored"));
  struct sigaction now;
  sigaction(ignored, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_IGN);
  signal(ignored, SIG_DFL);
}

TEST(StackCaptureTest, UsesConfiguredFreeSignal) {
  const int chosen = SIGRTMIN + 4;
  ASSERT_TRUE(IsDefault(chosen)) << "the test needs a free signal";
  ParkedThread parked(ParkedThread::kSleep);
  const pid_t tid = parked.tid();
  StackCaptureOptions options;
  options.signal = chosen;
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks({&tid, 1}, options);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  Answered((*stacks)[0]);
  EXPECT_GE(FramesIn((*stacks)[0].pcs, parked.function()), 1);
  EXPECT_EQ(ActiveStackCaptureSignal(), chosen);
  EXPECT_FALSE(IsDefault(chosen));
}

TEST(StackCaptureTest, RejectsInvalidOptions) {
  const pid_t self = StackCaptureTestTid();
  StackCaptureOptions options;
  options.max_frames = 0;
  EXPECT_EQ(CaptureThreadStacks({&self, 1}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = StackCaptureOptions();
  options.signal = SIGKILL;
  EXPECT_EQ(CaptureThreadStacks({&self, 1}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.signal = SIGRTMAX + 1;
  EXPECT_EQ(CaptureThreadStacks({&self, 1}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.signal = 0;
  EXPECT_TRUE(CaptureThreadStacks({&self, 1}, options).ok());
}

// Runs in a fresh process (threadsafe death tests re-execute the binary), so
// no signal has been chosen yet.
void AutoPickSkipsProgramHandlers() {
  const int free_signal = SIGRTMIN + 1;
  std::vector<std::unique_ptr<ProgramSignalHandler>> handlers;
  for (int signal = SIGRTMIN; signal <= SIGRTMAX; ++signal) {
    if (signal == free_signal) continue;
    handlers.push_back(std::make_unique<ProgramSignalHandler>(signal));
  }
  ParkedThread parked(ParkedThread::kConditionWait);
  const pid_t tid = parked.tid();
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks({&tid, 1});
  bool ok = stacks.ok() && (*stacks)[0].available &&
            ActiveStackCaptureSignal() == free_signal;
  for (const auto& handler : handlers) ok = ok && handler->StillInstalled();
  fprintf(stderr, "%s\n", ok ? "picked the free signal" : "wrong pick");
  fflush(stderr);
  _exit(ok ? 0 : 1);
}

void FailsWithoutFreeSignal() {
  std::vector<std::unique_ptr<ProgramSignalHandler>> handlers;
  for (int signal = SIGRTMIN; signal <= SIGRTMAX; ++signal) {
    handlers.push_back(std::make_unique<ProgramSignalHandler>(signal));
  }
  absl::StatusOr<std::vector<ThreadStack>> stacks = CaptureAllThreadStacks();
  bool ok = stacks.status().code() == absl::StatusCode::kResourceExhausted &&
            ActiveStackCaptureSignal() == 0;
  for (const auto& handler : handlers) ok = ok && handler->StillInstalled();
  fprintf(stderr, "%s\n", std::string(stacks.status().message()).c_str());
  fflush(stderr);
  _exit(ok ? 0 : 1);
}

TEST(StackCaptureDeathTest, AutoPickSkipsSignalsWithProgramHandlers) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(AutoPickSkipsProgramHandlers(), testing::ExitedWithCode(0),
              "picked the free signal");
}

TEST(StackCaptureDeathTest, FailsWhenEveryRealTimeSignalIsTaken) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(FailsWithoutFreeSignal(), testing::ExitedWithCode(0),
              "no free real-time signal");
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

timespec MonotonicIn(absl::Duration d) {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return absl::ToTimespec(absl::DurationFromTimespec(now) + d);
}

TEST(TimedLockTest, GivesUpAtDeadlineAndHandsOverOnUnlock) {
  internal::TimedLock lock;
  ASSERT_TRUE(lock.LockUntil(MonotonicIn(absl::Seconds(1))));
  std::atomic<int> outcome{-1};
  std::thread([&] {
    outcome = lock.LockUntil(MonotonicIn(absl::Milliseconds(50))) ? 1 : 0;
  }).join();
  EXPECT_EQ(outcome.load(), 0) << "took a held lock";

  std::atomic<bool> waiting{false};
  std::thread waiter([&] {
    waiting = true;
    outcome = lock.LockUntil(MonotonicIn(absl::Seconds(30))) ? 1 : 0;
    if (outcome == 1) lock.Unlock();
  });
  while (!waiting.load()) std::this_thread::yield();
  lock.Unlock();
  waiter.join();
  EXPECT_EQ(outcome.load(), 1) << "missed the unlock";
  EXPECT_TRUE(lock.LockUntil(MonotonicIn(absl::Seconds(1))));
  lock.Unlock();
}

TEST(TaskStatusTest, ParsesStateAndMasks) {
  absl::StatusOr<internal::TaskStatus> status = internal::ParseTaskStatus(
      "Name:\tworker (1)\nState:\tD (disk sleep)\nSigQ:\t0/96364\n"
      "SigPnd:\t8000000000000000\nShdPnd:\t0000000000000000\n"
      "SigBlk:\t0000000000000001\nSigIgn:\t0000000000001000\n");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state, 'D');
  EXPECT_TRUE(internal::HasSignal(status->pending, 64));
  EXPECT_FALSE(internal::HasSignal(status->pending, 63));
  EXPECT_TRUE(internal::HasSignal(status->blocked, SIGHUP));
  EXPECT_FALSE(internal::HasSignal(status->blocked, 64));
}

TEST(TaskStatusTest, RejectsMalformedStatus) {
  EXPECT_FALSE(internal::ParseTaskStatus("").ok());
  EXPECT_FALSE(internal::ParseTaskStatus("State:\tS (sleeping)\n").ok());
  EXPECT_FALSE(internal::ParseTaskStatus("State:\tS\nSigPnd:\t0\n"
                                         "SigBlk:\tzz\n")
                   .ok());
  EXPECT_THAT(
      std::string(internal::ParseTaskStatus("SigBlk:\t0\n").status().message()),
      HasSubstr("State"));
}

TEST(TaskStatusTest, ReadsOwnThread) {
  const int dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir, 0);
  sigset_t one, old;
  sigemptyset(&one);
  sigaddset(&one, SIGRTMIN + 5);
  pthread_sigmask(SIG_BLOCK, &one, &old);
  absl::StatusOr<internal::TaskStatus> status =
      internal::ReadTaskStatus(dir, StackCaptureTestTid());
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->state, 'R');
  EXPECT_TRUE(internal::HasSignal(status->blocked, SIGRTMIN + 5));
  EXPECT_TRUE(absl::IsNotFound(internal::ReadTaskStatus(dir, -5).status()));
  EXPECT_TRUE(internal::TaskExists(dir, StackCaptureTestTid()));
  EXPECT_FALSE(internal::TaskExists(dir, -5));
  close(dir);
}

}  // namespace
}  // namespace taskleak
