#include "taskleak/runtime/thread_origin_test_util.h"

#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>

namespace taskleak {
namespace thread_origin_test {

pid_t CurrentTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

std::string CurrentThreadName() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  return name;
}

void Gate::ArriveAndPark() {
  std::unique_lock<std::mutex> lock(mu_);
  tid_ = CurrentTid();
  cv_.notify_all();
  cv_.wait(lock, [this] { return released_; });
}

pid_t Gate::AwaitTid() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::seconds(30), [this] { return tid_ != 0; });
  return tid_;
}

void Gate::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  released_ = true;
  cv_.notify_all();
}

void* ParkAtGate(void* gate) {
  static_cast<Gate*>(gate)->ArriveAndPark();
  return gate;
}

bool StackContains(const std::vector<uintptr_t>& stack, const void* function) {
  for (uintptr_t pc : stack) {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(pc), &info) != 0 &&
        info.dli_saddr == function) {
      return true;
    }
  }
  return false;
}

__attribute__((noinline)) std::thread StartStdThread(Gate* gate) {
  std::thread thread([gate] { gate->ArriveAndPark(); });
  TASKLEAK_NO_TAIL_CALL();
  return thread;
}

__attribute__((noinline)) std::future<void> StartAsync(Gate* gate) {
  std::future<void> future =
      std::async(std::launch::async, [gate] { gate->ArriveAndPark(); });
  TASKLEAK_NO_TAIL_CALL();
  return future;
}

__attribute__((noinline)) int StartRawPthread(pthread_t* thread,
                                              void* (*routine)(void*),
                                              void* arg) {
  const int result = pthread_create(thread, nullptr, routine, arg);
  TASKLEAK_NO_TAIL_CALL();
  return result;
}

}  // namespace thread_origin_test
}  // namespace taskleak
