// For tests: a thread that does some setup, reports its tid, and then waits
// on a condition variable until the object is destroyed.

#ifndef TASKLEAK_TESTING_TESTUTIL_IDLE_THREAD_H_
#define TASKLEAK_TESTING_TESTUTIL_IDLE_THREAD_H_

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace taskleak {
namespace internal {

class IdleThread {
 public:
  // Returns once the thread runs and has finished `setup` (run on it).
  explicit IdleThread(std::function<void()> setup = nullptr)
      : thread_([this, setup = std::move(setup)] {
          if (setup) setup();
          std::unique_lock<std::mutex> lock(mu_);
          tid_ = static_cast<pid_t>(syscall(SYS_gettid));
          cv_.notify_all();
          cv_.wait(lock, [this] { return released_; });
        }) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return tid_ != 0; });
  }
  ~IdleThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  IdleThread(const IdleThread&) = delete;
  IdleThread& operator=(const IdleThread&) = delete;

  pid_t tid() const { return tid_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  pid_t tid_ = 0;          // Guarded by mu_ until the constructor returns.
  bool released_ = false;  // Guarded by mu_.
  std::thread thread_;     // Last: starts after the members it uses.
};

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_TESTUTIL_IDLE_THREAD_H_
