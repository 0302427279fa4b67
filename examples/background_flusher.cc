#include "examples/background_flusher.h"

#include <pthread.h>

#include <chrono>
#include <thread>

namespace examples {

BackgroundFlusher::BackgroundFlusher(std::function<void()> flush)
    : state_(std::make_shared<State>()) {
  state_->flush = std::move(flush);
  std::thread([state = state_] {
    pthread_setname_np(pthread_self(), "flusher");
    while (!state->stop) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      state->flush();
    }
  }).detach();
}

BackgroundFlusher::~BackgroundFlusher() { Stop(); }

void BackgroundFlusher::Stop() { state_->stop = true; }

}  // namespace examples
