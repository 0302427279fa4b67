// What the timeline costs: a thread's start and end with the timeline on
// (its end is noted by the exiting thread) against off, and one test's
// begin/end pair. Run:
//   bazel run -c opt --config=offline //runtime:timeline_benchmark
// Measured 2026-12-01 on 2 shared cores: see the commit and
// /work/notes-free summary in runtime/timeline.h.

#include <pthread.h>

#include "benchmark/benchmark.h"
#include "runtime/timeline.h"

namespace {

void* Nothing(void*) { return nullptr; }

void CreateAndJoin(benchmark::State& state) {
  for (auto _ : state) {
    pthread_t t;
    pthread_create(&t, nullptr, Nothing, nullptr);
    pthread_join(t, nullptr);
  }
}

// Off first: the timeline cannot be stopped once started.
void BM_ThreadTimelineOff(benchmark::State& state) { CreateAndJoin(state); }
BENCHMARK(BM_ThreadTimelineOff)->UseRealTime();

void BM_ThreadTimelineOn(benchmark::State& state) {
  taskleak::StartTimeline();
  CreateAndJoin(state);
}
BENCHMARK(BM_ThreadTimelineOn)->UseRealTime();

void BM_TestScope(benchmark::State& state) {
  taskleak::StartTimeline();
  for (auto _ : state) {
    taskleak::BeginTimelineScope("Suite.Test");
    taskleak::EndTimelineScope();
  }
}
BENCHMARK(BM_TestScope);

}  // namespace
