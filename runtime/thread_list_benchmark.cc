// Cost of listing threads with 10, 100 and 1000 extra threads parked.
//
//   bazel run -c opt --config=offline //runtime:thread_list_benchmark

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "taskleak/runtime/thread_list.h"

namespace taskleak {
namespace {

// Keeps `n` threads asleep for the lifetime of the object.
class ParkedThreads {
 public:
  explicit ParkedThreads(int n) {
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this] {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return released_; });
      });
    }
  }
  ~ParkedThreads() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::vector<std::thread> threads_;
};

void BM_ListThreads(benchmark::State& state) {
  ParkedThreads parked(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(ListThreads());
  }
  state.counters["ns_per_thread"] = benchmark::Counter(
      state.range(0), benchmark::Counter::kIsIterationInvariantRate |
                          benchmark::Counter::kInvert);
}
BENCHMARK(BM_ListThreads)->Arg(10)->Arg(100)->Arg(1000)->UseRealTime();

void BM_ListThreadIds(benchmark::State& state) {
  ParkedThreads parked(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(ListThreadIds());
  }
  state.counters["ns_per_thread"] = benchmark::Counter(
      state.range(0), benchmark::Counter::kIsIterationInvariantRate |
                          benchmark::Counter::kInvert);
}
BENCHMARK(BM_ListThreadIds)->Arg(10)->Arg(100)->Arg(1000)->UseRealTime();

void BM_CountThreads(benchmark::State& state) {
  ParkedThreads parked(state.range(0));
  for (auto _ : state) {
    benchmark::DoNotOptimize(CountThreads());
  }
}
BENCHMARK(BM_CountThreads)->Arg(10)->Arg(100)->Arg(1000)->UseRealTime();

}  // namespace
}  // namespace taskleak
