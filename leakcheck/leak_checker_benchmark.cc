// The clean-test path: snapshot, then verify with nothing leaked, while 0,
// 100, 1,000 or 10,000 background threads are alive.
//
//   bazel run -c opt --config=offline //leakcheck:leak_checker_benchmark

#include <pthread.h>
#include <semaphore.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "benchmark/benchmark.h"
#include "taskleak/leakcheck/leak_checker.h"

namespace taskleak {
namespace {

// `n` threads with small stacks, parked until destruction.
class Background {
 public:
  explicit Background(int n) {
    sem_init(&release_, 0, 0);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (int i = 0; i < n; ++i) {
      pthread_t t;
      if (pthread_create(&t, &attr, Park, &release_) != 0) {
        fprintf(stderr, "cannot start background thread %d\n", i);
        abort();
      }
      threads_.push_back(t);
    }
    pthread_attr_destroy(&attr);
  }
  ~Background() {
    for (size_t i = 0; i < threads_.size(); ++i) sem_post(&release_);
    for (pthread_t t : threads_) pthread_join(t, nullptr);
  }

 private:
  static void* Park(void* release) {
    while (sem_wait(static_cast<sem_t*>(release)) != 0) {
    }
    return nullptr;
  }
  sem_t release_;
  std::vector<pthread_t> threads_;
};

void BM_CleanCheck(benchmark::State& state) {
  Background background(state.range(0));
  LeakCheckOptions options;
  for (auto _ : state) {
    absl::StatusOr<LeakSnapshot> before = LeakSnapshot::Take(options);
    absl::StatusOr<LeakReport> report = FindLeaks(*before, options, "bench");
    if (!report.ok() || !report->clean()) {
      state.SkipWithError("the clean check found something");
      break;
    }
  }
}
BENCHMARK(BM_CleanCheck)
    ->Arg(0)
    ->Arg(100)
    ->Arg(1000)
    ->Arg(10000)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// A thread that never ends: how long after the grace window the report
// comes, as a percentage of the window. The first report of a process also
// loads debug info; later ones are warm.
void BM_NeverEndingLeak(benchmark::State& state) {
  LeakCheckOptions options;
  options.grace = absl::Milliseconds(state.range(0));
  absl::StatusOr<LeakSnapshot> before = LeakSnapshot::Take(options);
  Background leaked(1);
  double overshoot = 0;
  for (auto _ : state) {
    absl::StatusOr<LeakReport> report = FindLeaks(*before, options, "bench");
    if (!report.ok() || report->threads.size() != 1) {
      state.SkipWithError("the leak was not reported");
      break;
    }
    overshoot = std::max(
        overshoot, absl::ToDoubleMilliseconds(report->waited - options.grace));
  }
  state.counters["max_overshoot_pct"] = 100 * overshoot / state.range(0);
}
BENCHMARK(BM_NeverEndingLeak)
    ->Arg(200)
    ->Arg(1000)
    ->Iterations(5)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace taskleak

BENCHMARK_MAIN();
