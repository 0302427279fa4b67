// A small fixed-size thread pool whose jobs are registry tasks: every job is
// a live "thread_pool_job" task from Submit() until it has finished running
// (or has been dropped at shutdown), so a job left behind shows up in
// taskleak::ListTasks() like a leaked thread would.
//
//   taskleak::ThreadPool pool(4, "fetcher");
//   pool.Submit([] { FetchOne(); }, "fetch /index.html");
//   pool.Submit([] { FetchOne(); });   // named "fetcher#2"
//   pool.WaitIdle();
//   // ~ThreadPool drops what is still queued and joins the workers.

#ifndef TASKLEAK_EXAMPLES_THREAD_POOL_H_
#define TASKLEAK_EXAMPLES_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "taskleak/runtime/task_registry.h"

namespace taskleak {

// Thread-safe: any thread may Submit, WaitIdle and Shutdown, except that a
// job must not call WaitIdle or Shutdown on its own pool (it would wait for
// itself). Jobs must not throw.
class ThreadPool {
 public:
  // The task kind of every job.
  static constexpr const char* kJobKind = "thread_pool_job";

  // Starts `threads` workers (at least 1) named "<name>-<i>", i from 0; the
  // name part is cut so the whole fits the 15 bytes Linux keeps.
  // `job_options` applies to each job's registration (e.g. capture_stack to
  // record where each job was submitted).
  ThreadPool(int threads, std::string name, TaskOptions job_options = {});
  // Shutdown().
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `job` and registers it as a task named `job_name`, or
  // "<name>#<n>" for the pool's n-th job (from 1) when empty. The task lives
  // until the job returns and its captured state is destroyed. Once
  // Shutdown() has begun, the job is dropped without running.
  void Submit(std::function<void()> job, std::string job_name = "");

  // Blocks until no job is queued or running.
  void WaitIdle();

  // Stops taking jobs, drops (and unregisters) those still queued, waits for
  // running jobs to finish and joins the workers. Idempotent.
  void Shutdown();

  const std::string& name() const { return name_; }

 private:
  struct Job {
    std::function<void()> run;
    TaskHandle task;
  };

  void WorkerLoop(int index);

  const std::string name_;
  const TaskOptions job_options_;

  std::mutex mu_;
  std::condition_variable work_cv_;  // a job was queued, or stopping
  std::condition_variable idle_cv_;  // the pool became idle
  std::deque<Job> queue_;            // guarded by mu_
  int running_ = 0;                  // guarded by mu_
  bool stopping_ = false;            // guarded by mu_

  std::atomic<uint64_t> submitted_{0};

  std::mutex join_mu_;  // serializes concurrent Shutdown() calls
  std::vector<std::thread> workers_;
};

}  // namespace taskleak

#endif  // TASKLEAK_EXAMPLES_THREAD_POOL_H_
