// For the stack capture tests: threads parked in functions of their own
// (the tests link with -rdynamic, so dladdr names them), and checks of what
// a capture returned for them.

#ifndef TASKLEAK_RUNTIME_STACK_CAPTURE_TEST_UTIL_H_
#define TASKLEAK_RUNTIME_STACK_CAPTURE_TEST_UTIL_H_

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/config.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/stack_capture.h"

namespace taskleak {

#ifdef ABSL_HAVE_THREAD_SANITIZER
inline constexpr bool kThreadSanitizer = true;
#else
inline constexpr bool kThreadSanitizer = false;
#endif

pid_t StackCaptureTestTid();

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
  void Open(pid_t tid);
  pid_t Wait();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  pid_t tid_ = 0;
};

// A thread parked in a function of its own until the object is destroyed.
class ParkedThread {
 public:
  enum Kind { kConditionWait, kMutexLock, kRead, kSleep, kRecursion };

  // kRecursion parks `depth` + 1 calls deep in one function.
  explicit ParkedThread(Kind kind, int depth = 40);
  ~ParkedThread();

  pid_t tid() const { return tid_; }

  // The function this thread is parked in.
  const void* function() const;

 private:
  Kind kind_;
  std::unique_ptr<Parking> parking_;  // Outlives the thread.
  Latch latch_;
  pid_t tid_ = 0;
  std::thread thread_;
};

// One parked thread of each kind.
std::vector<std::unique_ptr<ParkedThread>> ParkOneOfEach();

std::vector<pid_t> TidsOf(
    const std::vector<std::unique_ptr<ParkedThread>>& threads);

// True if `stack` is available. Under ThreadSanitizer, signals wait for the
// sanitizer's safe points, which a thread blocked in read() or on a mutex may
// not reach by the deadline, and the sanitizer blocks every signal while it
// runs a delayed handler: the capture must then say one or the other, and
// the caller skips its checks of the stack. Elsewhere it fails the test.
bool Answered(const ThreadStack& stack);

// Ends the test here if `stack` is unavailable: skipped under TSan (with
// the reason Answered checked), failed elsewhere (Answered failed it).
#define SKIP_UNLESS_ANSWERED(stack)                                      \
  if (!Answered(stack))                                                  \
  GTEST_SKIP() << "tid " << (stack).tid << " gave no stack under "       \
               << "ThreadSanitizer (signals wait for its safe points): " \
               << (stack).unavailable_reason

// How many entries of `pcs` lie in the function starting at `function`.
int FramesIn(const std::vector<uintptr_t>& pcs, const void* function);

template <typename F>
const void* Address(F* function) {
  return reinterpret_cast<const void*>(function);
}

// Returns what `tid` maps to in `stacks`, failing the test if absent.
const ThreadStack& Find(const std::vector<ThreadStack>& stacks, pid_t tid);

// Checks that each parked thread's stack is available and passes through the
// function it parked in, and through none of the others'. Skips the test if
// none answered under ThreadSanitizer.
void ExpectParkedStacks(
    const std::vector<ThreadStack>& stacks,
    const std::vector<std::unique_ptr<ParkedThread>>& threads);

// True once no signal `signal` waits for thread `tid` or the process.
bool NothingPending(pid_t tid, int signal);

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_STACK_CAPTURE_TEST_UTIL_H_
