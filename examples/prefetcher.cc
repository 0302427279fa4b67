#include "examples/prefetcher.h"

#include <chrono>

namespace examples {
namespace {

// Stands in for a network fetch: 2 s, unless cancelled.
void Fetch(const std::string& key, std::unique_lock<std::mutex>& lock,
           std::condition_variable& cv, const bool& cancelled) {
  cv.wait_for(lock, std::chrono::seconds(2), [&] { return cancelled; });
}

}  // namespace

Prefetcher::Prefetcher(taskleak::ThreadPool& pool)
    : state_(std::make_shared<State>()), pool_(pool) {}

void Prefetcher::Prefetch(const std::string& key) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    ++state_->outstanding;
  }
  pool_.Submit(
      [state = state_, key] {
        std::unique_lock<std::mutex> lock(state->mu);
        if (!state->cancelled) Fetch(key, lock, state->cv, state->cancelled);
        --state->outstanding;
        state->cv.notify_all();
      },
      "prefetch " + key);
}

CancellingPrefetcher::~CancellingPrefetcher() {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->cancelled = true;
  state_->cv.notify_all();
  state_->cv.wait(lock, [this] { return state_->outstanding == 0; });
}

}  // namespace examples
