#include "examples/forgetful_pool.h"

#include <pthread.h>

namespace examples {

ForgetfulPool::ForgetfulPool(int threads, const std::string& name)
    : state_(std::make_shared<State>()) {
  for (int i = 0; i < threads; ++i) {
    workers_.emplace_back(WorkerLoop, state_);
    pthread_setname_np(workers_.back().native_handle(),
                       (name + "-" + std::to_string(i)).c_str());
  }
}

ForgetfulPool::~ForgetfulPool() {
  // The bug: the workers are detached instead of being told to stop and
  // joined, so they wait for work forever.
  for (std::thread& worker : workers_) worker.detach();
}

void ForgetfulPool::Submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->queue.push_back(std::move(job));
  }
  state_->cv.notify_one();
}

void ForgetfulPool::WorkerLoop(std::shared_ptr<State> state) {
  std::unique_lock<std::mutex> lock(state->mu);
  for (;;) {
    state->cv.wait(lock,
                   [&] { return state->stopping || !state->queue.empty(); });
    if (state->queue.empty()) return;
    std::function<void()> job = std::move(state->queue.front());
    state->queue.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
}

}  // namespace examples
