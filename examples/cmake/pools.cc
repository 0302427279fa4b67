#include "pools.h"

#include <utility>

namespace pools {
namespace {

void Work(std::shared_ptr<Queue> queue) {
  std::unique_lock<std::mutex> lock(queue->mu);
  for (;;) {
    queue->cv.wait(lock,
                   [&] { return queue->stopping || !queue->jobs.empty(); });
    if (queue->jobs.empty()) return;
    std::function<void()> job = std::move(queue->jobs.front());
    queue->jobs.pop_front();
    lock.unlock();
    job();
    lock.lock();
  }
}

void Push(Queue& queue, std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(queue.mu);
    queue.jobs.push_back(std::move(job));
  }
  queue.cv.notify_one();
}

}  // namespace

ForgetfulPool::ForgetfulPool(int threads) : queue_(std::make_shared<Queue>()) {
  for (int i = 0; i < threads; ++i) workers_.emplace_back(Work, queue_);
}

ForgetfulPool::~ForgetfulPool() {
  for (std::thread& worker : workers_) worker.detach();
}

void ForgetfulPool::Submit(std::function<void()> job) {
  Push(*queue_, std::move(job));
}

JoiningPool::JoiningPool(int threads) : queue_(std::make_shared<Queue>()) {
  for (int i = 0; i < threads; ++i) workers_.emplace_back(Work, queue_);
}

JoiningPool::~JoiningPool() {
  {
    std::lock_guard<std::mutex> lock(queue_->mu);
    queue_->stopping = true;
  }
  queue_->cv.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void JoiningPool::Submit(std::function<void()> job) {
  Push(*queue_, std::move(job));
}

}  // namespace pools
