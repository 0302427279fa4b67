#include "examples/detached_timer.h"

#include <pthread.h>

#include <thread>

namespace examples {

void RunAfter(std::chrono::milliseconds delay, std::function<void()> callback) {
  std::thread([delay, callback = std::move(callback)] {
    pthread_setname_np(pthread_self(), "retry-timer");
    std::this_thread::sleep_for(delay);
    callback();
  }).detach();
}

}  // namespace examples
