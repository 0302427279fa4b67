// Shows the runtime's thread inventory catching a pool that forgets to join:
// the threads alive before the pool, and those still alive after it is gone.
//
//   bazel run --config=offline //examples:thread_listing_demo

#include <pthread.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "runtime/thread_list.h"

namespace {

// The bug: the destructor detaches its workers instead of stopping and
// joining them, so they outlive the pool.
class ForgetfulPool {
 public:
  explicit ForgetfulPool(int workers) {
    for (int i = 0; i < workers; ++i) {
      threads_.emplace_back([i] {
        std::string name = "pool-worker-" + std::to_string(i);
        pthread_setname_np(pthread_self(), name.c_str());
        for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
      });
    }
  }
  ~ForgetfulPool() {
    for (std::thread& t : threads_) t.detach();
  }

 private:
  std::vector<std::thread> threads_;
};

int PrintNewThreads(const absl::flat_hash_set<taskleak::ThreadId>& before) {
  absl::StatusOr<std::vector<taskleak::ThreadInfo>> threads =
      taskleak::ListThreads();
  if (!threads.ok()) {
    fprintf(stderr, "cannot list threads: %s\n",
            std::string(threads.status().message()).c_str());
    return -1;
  }
  int leaked = 0;
  for (const taskleak::ThreadInfo& t : *threads) {
    if (before.contains(t.id)) continue;
    ++leaked;
    printf("  tid %d  %-16s %s, %.0f ms CPU\n", t.id.tid, t.name.c_str(),
           taskleak::ThreadStateName(t.state),
           absl::ToDoubleMilliseconds(t.cpu_time));
  }
  return leaked;
}

}  // namespace

int main() {
  absl::StatusOr<std::vector<taskleak::ThreadInfo>> threads =
      taskleak::ListThreads();
  if (!threads.ok()) {
    fprintf(stderr, "cannot list threads: %s\n",
            std::string(threads.status().message()).c_str());
    return 1;
  }
  absl::flat_hash_set<taskleak::ThreadId> before;
  for (const taskleak::ThreadInfo& t : *threads) before.insert(t.id);
  printf("%zu thread(s) alive before the pool\n", before.size());
  { ForgetfulPool pool(3); }
  // Give the detached workers time to name themselves.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  printf("threads still alive after the pool was destroyed:\n");
  const int leaked = PrintNewThreads(before);
  printf("%d thread(s) leaked\n", leaked);
  return leaked == 0 ? 0 : 1;
}
