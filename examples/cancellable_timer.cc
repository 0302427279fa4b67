#include "examples/cancellable_timer.h"

#include <pthread.h>

namespace examples {

CancellableTimer::CancellableTimer(std::chrono::milliseconds delay,
                                   std::function<void()> callback) {
  thread_ = std::thread([this, delay, callback = std::move(callback)] {
    pthread_setname_np(pthread_self(), "retry-timer");
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, delay, [this] { return cancelled_; })) return;
    lock.unlock();
    callback();
  });
}

CancellableTimer::~CancellableTimer() { Cancel(); }

void CancellableTimer::Cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace examples
