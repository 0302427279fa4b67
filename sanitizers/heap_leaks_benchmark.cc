// What the per-test heap check costs: FindNewHeapLeaks with 0, 10,000 or
// 100,000 live (reachable) heap blocks, and with 4 threads alive, when
// nothing leaked and when one block leaked since the last check. Needs
// LeakSanitizer:
//
//   bazel run -c opt --config=offline --config=asan \
//     //sanitizers:heap_leaks_benchmark

#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "taskleak/sanitizers/heap_leaks.h"

namespace taskleak {
namespace {

// Reachable from this global: not leaks, but LeakSanitizer scans them.
std::vector<std::unique_ptr<int[]>>* live_blocks =
    new std::vector<std::unique_ptr<int[]>>;

void KeepLive(int n) {
  live_blocks->clear();
  for (int i = 0; i < n; ++i) live_blocks->emplace_back(new int[8]);
}

// Threads parked on a condition variable, whose stacks LeakSanitizer scans.
class Parked {
 public:
  explicit Parked(int n) {
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this] {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return done_; });
      });
    }
  }
  ~Parked() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::vector<std::thread> threads_;
};

__attribute__((noinline)) void LeakOne() {
  int* leaked = new int[4];
  benchmark::DoNotOptimize(leaked);
}

bool Available(benchmark::State& state) {
  if (HeapLeakCheckAvailable()) return true;
  state.SkipWithError(HeapLeakCheckUnavailableReason().c_str());
  return false;
}

void BM_CleanCheck(benchmark::State& state) {
  if (!Available(state)) return;
  KeepLive(static_cast<int>(state.range(0)));
  Parked threads(static_cast<int>(state.range(1)));
  (void)FindNewHeapLeaks();  // absorb what came before
  for (auto _ : state) {
    absl::StatusOr<HeapLeakReport> report = FindNewHeapLeaks();
    if (!report.ok() || !report->clean()) {
      state.SkipWithError("unexpected leak or error");
      return;
    }
  }
  live_blocks->clear();
}
BENCHMARK(BM_CleanCheck)
    ->Args({0, 0})
    ->Args({10000, 0})
    ->Args({100000, 0})
    ->Args({0, 4})
    ->Args({0, 16})
    ->Unit(benchmark::kMillisecond);

// One leaked block per check: parsing the report and symbolizing its stack
// come on top (the symbolizer's cache is warm after the first round).
void BM_CheckThatFindsALeak(benchmark::State& state) {
  if (!Available(state)) return;
  (void)FindNewHeapLeaks();
  for (auto _ : state) {
    state.PauseTiming();
    // In a thread that ends: no stale copy of the pointer stays in this
    // thread's registers or stack, where LeakSanitizer would find it.
    std::thread(LeakOne).join();
    state.ResumeTiming();
    absl::StatusOr<HeapLeakReport> report = FindNewHeapLeaks();
    if (!report.ok() || report->blocks() != 1) {
      state.SkipWithError("expected exactly one new leaked block");
      return;
    }
  }
}
BENCHMARK(BM_CheckThatFindsALeak)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace taskleak
