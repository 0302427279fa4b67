// A worker pool with a shutdown bug: its destructor detaches the workers
// instead of stopping and joining them, so they wait for work forever.
// Compare thread_pool.h, whose destructor stops and joins.

#ifndef TASKLEAK_EXAMPLES_FORGETFUL_POOL_H_
#define TASKLEAK_EXAMPLES_FORGETFUL_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace examples {

class ForgetfulPool {
 public:
  ForgetfulPool(int threads, const std::string& name);
  ~ForgetfulPool();

  void Submit(std::function<void()> job);

 private:
  // Shared with the workers, so it outlives the pool object.
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::function<void()>> queue;
    bool stopping = false;
  };

  static void WorkerLoop(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
  std::vector<std::thread> workers_;
};

}  // namespace examples

#endif  // TASKLEAK_EXAMPLES_FORGETFUL_POOL_H_
