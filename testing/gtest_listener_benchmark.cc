// What the listener adds to a suite of 1,000 trivial tests: the same suite
// run with //testing:gtest_main and with GoogleTest's gtest_main.
//
//   bazel run -c opt --config=offline //testing:gtest_listener_benchmark
//
// The cost per clean test is the difference of the slopes:
//   ((listener - listener_one) - (plain - plain_one)) / 999
// where *_one runs a single test of the suite (process start-up included).
//
// BM_Resolver*: one test that resolves localhost with getaddrinfo_a (glibc
// starts a helper thread that lingers about a second) and then starts and
// joins a std::thread. The check must not wait for the ignored helper.
//
// BM_DeathTests*: 20 "threadsafe" death tests, each running the program
// again for its statement. A child starts nothing of taskleak's, so the
// difference per death test is the dynamic loading of our dependencies:
//   (listener - plain) / 20

#include <sys/resource.h>

#include <string>

#include "benchmark/benchmark.h"
#include "taskleak/testing/testutil/subprocess.h"

namespace taskleak {
namespace {

// CPU time (user + system) of the ended processes this one waited for, and
// the ones they waited for: the suite and its death-test children.
double ChildrenCpuMs() {
  struct rusage usage;
  getrusage(RUSAGE_CHILDREN, &usage);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e3 +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e3;
}

// Reports, besides the wall time, "cpu_ms": the suite's CPU time per run,
// children included, which a loaded machine disturbs less.
void RunSuite(benchmark::State& state, const std::string& binary,
              const std::string& filter = "*") {
  const std::string name = binary.substr(binary.rfind('/') + 1);
  const double cpu_before = ChildrenCpuMs();
  for (auto _ : state) {
    absl::StatusOr<internal::ProcessResult> r = internal::RunProcess(
        {binary, "--gtest_brief=1", "--gtest_filter=" + filter});
    if (!r.ok() || r->exit_code != 0) {
      state.SkipWithError((name + " failed").c_str());
      break;
    }
  }
  state.counters["cpu_ms"] = benchmark::Counter(
      ChildrenCpuMs() - cpu_before, benchmark::Counter::kAvgIterations);
}

void BM_SuiteWithListener(benchmark::State& state) {
  RunSuite(state, "testing/trivial_suite");
}
BENCHMARK(BM_SuiteWithListener)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_SuitePlain(benchmark::State& state) {
  RunSuite(state, "testing/trivial_suite_plain");
}
BENCHMARK(BM_SuitePlain)->UseRealTime()->Unit(benchmark::kMillisecond);

constexpr char kOneTest[] = "Thousand/Trivial.Passes/1";

void BM_OneTestWithListener(benchmark::State& state) {
  RunSuite(state, "testing/trivial_suite", kOneTest);
}
BENCHMARK(BM_OneTestWithListener)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_OneTestPlain(benchmark::State& state) {
  RunSuite(state, "testing/trivial_suite_plain", kOneTest);
}
BENCHMARK(BM_OneTestPlain)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_ResolverWithListener(benchmark::State& state) {
  RunSuite(state, "testing/resolver_suite");
}
BENCHMARK(BM_ResolverWithListener)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_ResolverPlain(benchmark::State& state) {
  RunSuite(state, "testing/resolver_suite_plain");
}
BENCHMARK(BM_ResolverPlain)->UseRealTime()->Unit(benchmark::kMillisecond);

constexpr char kDeathTests[] = "DeathTestChild.ExitsTwentyTimes";

void BM_DeathTestsWithListener(benchmark::State& state) {
  RunSuite(state, "testing/death_suite", kDeathTests);
}
BENCHMARK(BM_DeathTestsWithListener)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_DeathTestsPlain(benchmark::State& state) {
  RunSuite(state, "testing/death_suite_plain", kDeathTests);
}
BENCHMARK(BM_DeathTestsPlain)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace taskleak

BENCHMARK_MAIN();
