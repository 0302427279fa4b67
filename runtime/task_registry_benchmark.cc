// Cost of registering and unregistering tasks, on one and two threads, and
// of the leak checker's CountTasks with live tasks around.
//
//   bazel run -c opt --config=offline //runtime:task_registry_benchmark
//
// Two-thread scaling: with UseRealTime, the reported time is wall time per
// pair over both threads, so throughput(2) / throughput(1) is
// time(threads:1) / time(threads:2). On a shared machine, run with
// --benchmark_repetitions=N: the "min" row is the run least disturbed by
// other processes.

#include <algorithm>
#include <vector>

#include "benchmark/benchmark.h"
#include "taskleak/runtime/task_registry.h"

namespace taskleak {
namespace {

double Min(const std::vector<double>& v) {
  return *std::min_element(v.begin(), v.end());
}

void BM_RegisterUnregister(benchmark::State& state) {
  for (auto _ : state) {
    TaskHandle task = RegisterTask("bench", "register_unregister");
    benchmark::DoNotOptimize(task);
  }
}
BENCHMARK(BM_RegisterUnregister)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->ComputeStatistics("min", Min);

void BM_RegisterUnregisterWithStack(benchmark::State& state) {
  TaskOptions options;
  options.capture_stack = true;
  for (auto _ : state) {
    TaskHandle task = RegisterTask("bench", "with_stack", options);
    benchmark::DoNotOptimize(task);
  }
}
BENCHMARK(BM_RegisterUnregisterWithStack)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->ComputeStatistics("min", Min);

// Many tasks alive at once: the handles are kept in a ring and replaced.
void BM_RegisterUnregisterWith1000Live(benchmark::State& state) {
  std::vector<TaskHandle> ring(1000);
  size_t next = 0;
  for (auto _ : state) {
    ring[next] = RegisterTask("bench", "ring");
    if (++next == ring.size()) next = 0;
  }
}
BENCHMARK(BM_RegisterUnregisterWith1000Live)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->ComputeStatistics("min", Min);

// A watermark taken before every pair, as a checker running between very
// short tests would: each pair then reserves a new block of ids.
void BM_RegisterUnregisterAfterNextTaskId(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(NextTaskId());
    TaskHandle task = RegisterTask("bench", "after_watermark");
    benchmark::DoNotOptimize(task);
  }
}
BENCHMARK(BM_RegisterUnregisterAfterNextTaskId);

void BM_NextTaskId(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(NextTaskId());
}
BENCHMARK(BM_NextTaskId);

// The leak checker's per-test call. Arg: live tasks, all older than the
// watermark (the usual "nothing leaked" case).
void BM_CountTasksSinceWatermark(benchmark::State& state) {
  std::vector<TaskHandle> live;
  for (int i = 0; i < state.range(0); ++i) {
    live.push_back(RegisterTask("bench", "live"));
  }
  const uint64_t watermark = NextTaskId();
  for (auto _ : state) benchmark::DoNotOptimize(CountTasks(watermark));
}
BENCHMARK(BM_CountTasksSinceWatermark)->Arg(0)->Arg(1000);

// Counting everything: every live task matches.
void BM_CountAllTasks(benchmark::State& state) {
  std::vector<TaskHandle> live;
  for (int i = 0; i < state.range(0); ++i) {
    live.push_back(RegisterTask("bench", "live"));
  }
  for (auto _ : state) benchmark::DoNotOptimize(CountTasks(0));
}
BENCHMARK(BM_CountAllTasks)->Arg(0)->Arg(1000);

// Worst case: a watermark in the middle of 1000 live tasks, so half of
// them are walked.
void BM_CountTasksWatermarkInside(benchmark::State& state) {
  std::vector<TaskHandle> live;
  uint64_t watermark = 0;
  for (int i = 0; i < state.range(0); ++i) {
    if (i == state.range(0) / 2) watermark = NextTaskId();
    live.push_back(RegisterTask("bench", "live"));
  }
  for (auto _ : state) benchmark::DoNotOptimize(CountTasks(watermark));
}
BENCHMARK(BM_CountTasksWatermarkInside)->Arg(1000);

void BM_ListTasks(benchmark::State& state) {
  std::vector<TaskHandle> live;
  for (int i = 0; i < state.range(0); ++i) {
    live.push_back(RegisterTask("bench", "live"));
  }
  for (auto _ : state) benchmark::DoNotOptimize(ListTasks());
}
BENCHMARK(BM_ListTasks)->Arg(1000);

}  // namespace
}  // namespace taskleak
