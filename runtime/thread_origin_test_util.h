// For the thread origin tests (built three ways, see runtime/BUILD): threads
// that park at a gate, the functions that start them, and a check of a
// creation stack. The starting functions have external linkage and stay out
// of line, so that dladdr (the tests link with -rdynamic) can name the frame
// each creation stack must contain.

#ifndef TASKLEAK_RUNTIME_THREAD_ORIGIN_TEST_UTIL_H_
#define TASKLEAK_RUNTIME_THREAD_ORIGIN_TEST_UTIL_H_

#include <pthread.h>
#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "gtest/gtest.h"

// thread_origin_shared_library_test links the interposer as a shared
// library. Behind a sanitizer's interceptor (which the executable then
// contains) it only passes calls through and records nothing.
#if defined(TASKLEAK_INTERPOSER_IN_SHARED_LIBRARY) && \
    (defined(ABSL_HAVE_THREAD_SANITIZER) ||           \
     defined(ABSL_HAVE_ADDRESS_SANITIZER))
#define TASKLEAK_EXPECT_NO_RECORDING 1
#endif

// Keeps the preceding call from becoming a tail call, so that the calling
// function's frame is on the stack during it.
#define TASKLEAK_NO_TAIL_CALL() asm volatile("" ::: "memory")

namespace taskleak {
namespace thread_origin_test {

pid_t CurrentTid();
std::string CurrentThreadName();

// A started thread publishes its tid here and parks until released. Waits
// are bounded so that a broken interposer fails the test instead of hanging.
class Gate {
 public:
  void ArriveAndPark();
  // The started thread's tid, or 0 if it did not arrive within 30 s.
  pid_t AwaitTid();
  void Release();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  pid_t tid_ = 0;
  bool released_ = false;
};

// A pthread start routine: parks at the Gate* `gate`, then returns it.
void* ParkAtGate(void* gate);

// Releases and joins a std::thread however the test ends.
class ParkedStdThread {
 public:
  ParkedStdThread(Gate* gate, std::thread thread)
      : gate_(gate), thread_(std::move(thread)) {}
  ~ParkedStdThread() { Join(); }
  void Join() {
    gate_->Release();
    if (thread_.joinable()) thread_.join();
  }

 private:
  Gate* gate_;
  std::thread thread_;
};

// Whether one of `stack`'s addresses lies in the function at `function`.
bool StackContains(const std::vector<uintptr_t>& stack, const void* function);

template <typename F>
const void* Address(F* function) {
  return reinterpret_cast<const void*>(function);
}

// Thread creators; each is the frame a creation stack must contain.
std::thread StartStdThread(Gate* gate);
std::future<void> StartAsync(Gate* gate);
int StartRawPthread(pthread_t* thread, void* (*routine)(void*), void* arg);

// Skips where nothing can be recorded (TASKLEAK_EXPECT_NO_RECORDING).
class ThreadOriginTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef TASKLEAK_EXPECT_NO_RECORDING
    GTEST_SKIP() << "a shared-library interposer behind a sanitizer records "
                    "nothing (see ThreadOriginLinkTest)";
#endif
  }
};

}  // namespace thread_origin_test
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_THREAD_ORIGIN_TEST_UTIL_H_
