// What the timeline costs: a thread's start and end with the timeline on
// (its end is noted by the exiting thread) against off; a task's register
// and end, on and off (its end is noted by whoever ends it), on one and two
// threads; and one test's begin/end pair. Run:
//   bazel run -c opt --config=offline //runtime:timeline_benchmark -- \
//     --benchmark_repetitions=10 --benchmark_report_aggregates_only=true
// Figures (2026-12-01, 2 shared cores, medians of 10 repetitions, 3 runs):
// thread start+end, process CPU time, 34.1/32.3/35.9 us off and
// 35.2/35.1/36.3 us on (an earlier run: 31.7 off, 35.7 on); a task's
// register+end 34.5/33.8/34.6 ns off and 148/142/154 ns on one thread, on
// two 32-36 ns and 140-153 ns per task per thread; a test's scope
// 40-49 ns of CPU, 126-154 ns wall. Wall times on the shared machine vary
// by 30-40%.

#include <pthread.h>

#include "benchmark/benchmark.h"
#include "taskleak/runtime/task_registry.h"
#include "taskleak/runtime/timeline.h"

namespace {

void* Nothing(void*) { return nullptr; }

void CreateAndJoin(benchmark::State& state) {
  for (auto _ : state) {
    pthread_t t;
    pthread_create(&t, nullptr, Nothing, nullptr);
    pthread_join(t, nullptr);
  }
}

// Few enough that 10 repetitions on 1 and 2 threads (90,000 tasks) keep
// every ended task: past kMaxTimelineTasks they are only counted.
constexpr int kTaskIterations = 3000;

void RegisterAndEnd(benchmark::State& state) {
  for (auto _ : state) {
    taskleak::TaskHandle task = taskleak::RegisterTask("job", "bench");
    benchmark::DoNotOptimize(task);
  }
}

// Off first: the timeline cannot be stopped once started.
void BM_ThreadTimelineOff(benchmark::State& state) { CreateAndJoin(state); }
BENCHMARK(BM_ThreadTimelineOff)->MeasureProcessCPUTime()->UseRealTime();

void BM_TaskTimelineOff(benchmark::State& state) { RegisterAndEnd(state); }
BENCHMARK(BM_TaskTimelineOff)
    ->Threads(1)
    ->Threads(2)
    ->Iterations(kTaskIterations)
    ->UseRealTime();

void BM_ThreadTimelineOn(benchmark::State& state) {
  taskleak::StartTimeline();
  CreateAndJoin(state);
}
BENCHMARK(BM_ThreadTimelineOn)->MeasureProcessCPUTime()->UseRealTime();

void BM_TaskTimelineOn(benchmark::State& state) {
  taskleak::StartTimeline();
  RegisterAndEnd(state);
}
BENCHMARK(BM_TaskTimelineOn)
    ->Threads(1)
    ->Threads(2)
    ->Iterations(kTaskIterations)
    ->UseRealTime();

void BM_TestScope(benchmark::State& state) {
  taskleak::StartTimeline();
  for (auto _ : state) {
    taskleak::BeginTimelineScope("Suite.Test");
    taskleak::EndTimelineScope();
  }
}
BENCHMARK(BM_TestScope);

}  // namespace
