// Cost of capturing the stacks of 10, 100 and 1000 parked threads at several
// call depths: the first capture of a fresh set of threads, and the steady
// state of repeated captures of the same set, with the interposer linked in
// (so with each thread's stack bounds), and 1000 threads with bounds and
// without.
//
//   bazel run -c opt --config=offline //runtime:stack_capture_benchmark

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "benchmark/benchmark.h"
#include "taskleak/runtime/internal/unwind/stack_bounds.h"
#include "taskleak/runtime/stack_capture.h"

namespace taskleak {
namespace {

// Keeps `n` threads asleep `depth` calls deep for the lifetime of the
// object.
class ParkedThreads {
 public:
  ParkedThreads(int n, int depth) {
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this, depth] { Descend(depth); });
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this, n] { return static_cast<int>(tids_.size()) == n; });
  }
  ~ParkedThreads() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  const std::vector<pid_t>& tids() const { return tids_; }

 private:
  ABSL_ATTRIBUTE_NOINLINE int Descend(int depth) {
    if (depth == 0) {
      std::unique_lock<std::mutex> lock(mu_);
      tids_.push_back(static_cast<pid_t>(syscall(SYS_gettid)));
      cv_.notify_all();
      cv_.wait(lock, [this] { return released_; });
      return 0;
    }
    const int result = Descend(depth - 1) + 1;
    ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
    return result;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::vector<pid_t> tids_;
  std::vector<std::thread> threads_;
};

// Captures `tids`, failing the benchmark unless every stack is available.
bool Capture(benchmark::State& state, const std::vector<pid_t>& tids) {
  // Measures the work, not the deadline: on a loaded machine a capture of
  // 1000 deep stacks can take longer than the default 500 ms.
  StackCaptureOptions options;
  options.deadline = absl::Seconds(30);
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks(tids, options);
  if (!stacks.ok()) {
    state.SkipWithError(std::string(stacks.status().message()).c_str());
    return false;
  }
  for (const ThreadStack& stack : *stacks) {
    if (!stack.available) {
      state.SkipWithError(stack.unavailable_reason.c_str());
      return false;
    }
  }
  return true;
}

void SetCounters(benchmark::State& state) {
  state.counters["threads"] = state.range(0);
  state.counters["depth"] = state.range(1);
}

// Repeated captures of the same threads.
void BM_CaptureSteady(benchmark::State& state) {
  ParkedThreads parked(state.range(0), state.range(1));
  if (!Capture(state, parked.tids())) return;  // Warms up.
  for (auto _ : state) {
    if (!Capture(state, parked.tids())) break;
  }
  SetCounters(state);
}

// Repeated captures of 1000 threads 16 calls deep, with each thread's stack
// bounds (arg 1: walks check their own reads, runtime/internal/unwind/
// read_plan.h) or without (arg 0: libunwind validates every new page).
void BM_CaptureSteadyBounds(benchmark::State& state) {
  ParkedThreads parked(1000, 16);
  const bool bounded = state.range(0) != 0;
  const internal::StackBoundsLookup recorded =
      internal::SetStackBoundsLookup(nullptr);
  if (recorded == nullptr) {
    state.SkipWithError("the interposer records no stack bounds");
    return;
  }
  internal::SetStackBoundsLookup(bounded ? recorded : nullptr);
  if (Capture(state, parked.tids())) {  // Warms up.
    for (auto _ : state) {
      if (!Capture(state, parked.tids())) break;
    }
  }
  internal::SetStackBoundsLookup(recorded);
  state.counters["bounded"] = bounded;
}

// The first capture of threads that were never captured before.
void BM_CaptureFirst(benchmark::State& state) {
  for (auto _ : state) {
    ParkedThreads parked(state.range(0), state.range(1));
    const auto start = std::chrono::steady_clock::now();
    const bool ok = Capture(state, parked.tids());
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
    if (!ok) break;
  }
  SetCounters(state);
}

// All threads of the process, listing included.
void BM_CaptureAllThreadStacks(benchmark::State& state) {
  ParkedThreads parked(state.range(0), state.range(1));
  for (auto _ : state) {
    benchmark::DoNotOptimize(CaptureAllThreadStacks());
  }
  SetCounters(state);
}

void Sizes(benchmark::internal::Benchmark* b) {
  for (int threads : {10, 100, 1000}) {
    for (int depth : {0, 16, 48}) b->Args({threads, depth});
  }
  b->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_CaptureSteady)->Apply(Sizes)->UseRealTime();
BENCHMARK(BM_CaptureSteadyBounds)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_CaptureFirst)->Apply(Sizes)->UseManualTime()->Iterations(10);
BENCHMARK(BM_CaptureAllThreadStacks)
    ->Args({1000, 16})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace taskleak
