#include "examples/thread_pool.h"

#include <pthread.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace taskleak {

namespace {

// Linux keeps 15 bytes of a thread name; keep the index, cut the pool name.
std::string WorkerName(const std::string& pool, int index) {
  const std::string suffix = absl::StrCat("-", index);
  constexpr size_t kMaxThreadName = 15;
  const size_t keep =
      kMaxThreadName > suffix.size() ? kMaxThreadName - suffix.size() : 0;
  return pool.substr(0, keep) + suffix;
}

}  // namespace

ThreadPool::ThreadPool(int threads, std::string name, TaskOptions job_options)
    : name_(std::move(name)), job_options_(job_options) {
  if (threads < 1) threads = 1;
  workers_.reserve(threads);
  for (int i = 0; i < threads; ++i) {
    workers_.emplace_back([this, i] { WorkerLoop(i); });
  }
}

ThreadPool::~ThreadPool() { Shutdown(); }

void ThreadPool::Submit(std::function<void()> job, std::string job_name) {
  const uint64_t n = submitted_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (job_name.empty()) job_name = absl::StrCat(name_, "#", n);
  // Registered before it is queued, so it is never invisible while queued.
  Job queued{std::move(job), RegisterTask(kJobKind, job_name, job_options_)};
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(queued));
      work_cv_.notify_one();
      return;
    }
  }
  // Shutting down: drop the job, like Shutdown() drops queued ones.
  queued.run = nullptr;
  queued.task.Reset();
}

void ThreadPool::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return queue_.empty() && running_ == 0; });
}

void ThreadPool::Shutdown() {
  std::deque<Job> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    dropped.swap(queue_);
    if (running_ == 0) idle_cv_.notify_all();
  }
  work_cv_.notify_all();
  // Outside the lock: a job's captured state may do anything when it is
  // destroyed, including submitting to this pool. As for a job that ran, the
  // task ends after its state is gone.
  for (Job& job : dropped) {
    job.run = nullptr;
    job.task.Reset();
  }

  std::lock_guard<std::mutex> join_lock(join_mu_);
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

void ThreadPool::WorkerLoop(int index) {
  pthread_setname_np(pthread_self(), WorkerName(name_, index).c_str());
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Job job = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();

    job.run();
    // The task ends once the job has returned and its captured state is
    // gone.
    job.run = nullptr;
    job.task.Reset();

    lock.lock();
    --running_;
    if (running_ == 0 && queue_.empty()) idle_cv_.notify_all();
  }
}

}  // namespace taskleak
