#include "taskleak/runtime/stack_capture_test_util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "taskleak/runtime/internal/proc/task_status.h"

namespace taskleak {

// LeakSanitizer's check at exit stops every thread with ptrace; inside
// Bazel's test sandbox that fails after the stack capture tests
// ("LeakSanitizer has encountered a fatal error"), though the same binaries
// pass outside it. The capture code still runs under AddressSanitizer; only
// the exit-time leak check is off for the binaries that use these helpers.
extern "C" int __lsan_is_turned_off() { return 1; }

void Latch::Open(pid_t tid) {
  std::lock_guard<std::mutex> lock(mu_);
  tid_ = tid;
  cv_.notify_all();
}

pid_t Latch::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return tid_ != 0; });
  return tid_;
}

// The functions threads park in. They have external linkage so that the
// test binary (linked with -rdynamic) exports them to dladdr, and are never
// inlined so that they keep a frame of their own.
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

namespace {
using ::testing::AnyOf;
using ::testing::HasSubstr;
}  // namespace

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

const ThreadStack& Find(const std::vector<ThreadStack>& stacks, pid_t tid) {
  for (const ThreadStack& stack : stacks) {
    if (stack.tid == tid) return stack;
  }
  ADD_FAILURE() << "no entry for tid " << tid;
  static const ThreadStack* missing = new ThreadStack;
  return *missing;
}

ParkedThread::ParkedThread(Kind kind, int depth)
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

ParkedThread::~ParkedThread() {
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

const void* ParkedThread::function() const {
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

std::vector<std::unique_ptr<ParkedThread>> ParkOneOfEach() {
  std::vector<std::unique_ptr<ParkedThread>> threads;
  for (ParkedThread::Kind kind :
       {ParkedThread::kConditionWait, ParkedThread::kMutexLock,
        ParkedThread::kRead, ParkedThread::kSleep, ParkedThread::kRecursion}) {
    threads.push_back(std::make_unique<ParkedThread>(kind));
  }
  return threads;
}

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

}  // namespace taskleak
