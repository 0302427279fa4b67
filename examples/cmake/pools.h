// Two worker pools: one that forgets its threads when destroyed, and its
// fixed twin that stops and joins them.

#ifndef POOLS_H_
#define POOLS_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace pools {

// Shared by a pool and its workers; outlives a pool that forgets them.
struct Queue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> jobs;
  bool stopping = false;
};

// The bug: the destructor detaches the workers, which then wait for work
// forever.
class ForgetfulPool {
 public:
  explicit ForgetfulPool(int threads);
  ~ForgetfulPool();
  void Submit(std::function<void()> job);

 private:
  std::shared_ptr<Queue> queue_;
  std::vector<std::thread> workers_;
};

// The fix: the destructor tells the workers to stop and joins them.
class JoiningPool {
 public:
  explicit JoiningPool(int threads);
  ~JoiningPool();
  void Submit(std::function<void()> job);

 private:
  std::shared_ptr<Queue> queue_;
  std::vector<std::thread> workers_;
};

}  // namespace pools

#endif  // POOLS_H_
