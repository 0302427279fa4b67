// Warms a cache by fetching keys on the shared pool. The bug: destroying a
// Prefetcher forgets the fetches it queued, which stay queued (or running)
// in the shared pool after their owner is gone. CancellingPrefetcher is the
// fix: it cancels what has not started and waits for what has.

#ifndef TASKLEAK_EXAMPLES_PREFETCHER_H_
#define TASKLEAK_EXAMPLES_PREFETCHER_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "examples/thread_pool.h"

namespace examples {

class Prefetcher {
 public:
  explicit Prefetcher(taskleak::ThreadPool& pool);
  virtual ~Prefetcher() = default;

  // Fetches `key` in the background; slow, like a network round trip.
  void Prefetch(const std::string& key);

 protected:
  // Shared with the queued jobs, so it outlives the Prefetcher.
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool cancelled = false;
    int outstanding = 0;
  };
  std::shared_ptr<State> state_;

 private:
  taskleak::ThreadPool& pool_;
};

class CancellingPrefetcher : public Prefetcher {
 public:
  using Prefetcher::Prefetcher;
  ~CancellingPrefetcher() override;
};

}  // namespace examples

#endif  // TASKLEAK_EXAMPLES_PREFETCHER_H_
