// Runs a callback after a delay unless cancelled first; the destructor
// cancels and joins, so a timer never outlives its owner. The fix for
// detached_timer.h.

#ifndef TASKLEAK_EXAMPLES_CANCELLABLE_TIMER_H_
#define TASKLEAK_EXAMPLES_CANCELLABLE_TIMER_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace examples {

class CancellableTimer {
 public:
  CancellableTimer(std::chrono::milliseconds delay,
                   std::function<void()> callback);
  // Cancel().
  ~CancellableTimer();

  // Stops the timer; the callback will not run unless it already started.
  void Cancel();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
  std::thread thread_;
};

}  // namespace examples

#endif  // TASKLEAK_EXAMPLES_CANCELLABLE_TIMER_H_
