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

#include <string>

#include "benchmark/benchmark.h"
#include "taskleak/testing/testutil/subprocess.h"

namespace taskleak {
namespace {

void RunSuite(benchmark::State& state, const std::string& binary,
              const std::string& filter = "*") {
  const std::string name = binary.substr(binary.rfind('/') + 1);
  for (auto _ : state) {
    absl::StatusOr<internal::ProcessResult> r = internal::RunProcess(
        {binary, "--gtest_brief=1", "--gtest_filter=" + filter});
    if (!r.ok() || r->exit_code != 0) {
      state.SkipWithError((name + " failed").c_str());
      break;
    }
  }
}

void BM_SuiteWithListener(benchmark::State& state) {
  RunSuite(state, "testing/testdata/trivial_suite");
}
BENCHMARK(BM_SuiteWithListener)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_SuitePlain(benchmark::State& state) {
  RunSuite(state, "testing/testdata/trivial_suite_plain");
}
BENCHMARK(BM_SuitePlain)->UseRealTime()->Unit(benchmark::kMillisecond);

constexpr char kOneTest[] = "Thousand/Trivial.Passes/1";

void BM_OneTestWithListener(benchmark::State& state) {
  RunSuite(state, "testing/testdata/trivial_suite", kOneTest);
}
BENCHMARK(BM_OneTestWithListener)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_OneTestPlain(benchmark::State& state) {
  RunSuite(state, "testing/testdata/trivial_suite_plain", kOneTest);
}
BENCHMARK(BM_OneTestPlain)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_ResolverWithListener(benchmark::State& state) {
  RunSuite(state, "testing/testdata/resolver_suite");
}
BENCHMARK(BM_ResolverWithListener)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_ResolverPlain(benchmark::State& state) {
  RunSuite(state, "testing/testdata/resolver_suite_plain");
}
BENCHMARK(BM_ResolverPlain)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace taskleak

BENCHMARK_MAIN();
