// What tests whose server threads end after them cost, against GoogleTest's
// own gtest_main: taskleak waiting at each test's end for its threads (the
// default), and with --taskleak_grace_overlap, where the next tests run
// while they end.
//
//   bazel run -c opt --config=offline //bench:lingering_cost
//
// Each iteration runs bench/testdata/lingering_suite three ways, back to
// back: plain, taskleak, taskleak with the overlap. Each test starts a
// server thread that notices the test's end at its next wake-up and ends.
// Arguments: tests, each test's work in ms, how often servers wake in ms.
// Counters, medians over iterations: plain_s, wait_s, overlap_s (whole runs,
// wall time) and the ratios wait_x and overlap_x over plain.

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "taskleak/testing/testutil/subprocess.h"

namespace taskleak {
namespace {

// Seconds the suite took, or -1 if it failed.
double RunSeconds(const std::string& binary, std::vector<std::string> flags,
                  int tests, int work_ms, int wake_ms) {
  std::vector<std::string> argv = {binary, "--gtest_brief=1"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  const absl::Time start = absl::Now();
  absl::StatusOr<internal::ProcessResult> r =
      internal::RunProcess(argv,
                           {absl::StrCat("LINGERING_SUITE_TESTS=", tests),
                            absl::StrCat("LINGERING_SUITE_WORK_MS=", work_ms),
                            absl::StrCat("LINGERING_SUITE_WAKE_MS=", wake_ms)},
                           absl::Seconds(600));
  if (!r.ok() || r->exit_code != 0) return -1;
  return absl::ToDoubleSeconds(absl::Now() - start);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void BM_LingeringSuite(benchmark::State& state) {
  const int tests = static_cast<int>(state.range(0));
  const int work_ms = static_cast<int>(state.range(1));
  const int wake_ms = static_cast<int>(state.range(2));
  std::vector<double> plain, wait, overlap;
  for (auto _ : state) {
    plain.push_back(
        RunSeconds("bench/lingering_suite_plain", {}, tests, work_ms, wake_ms));
    wait.push_back(
        RunSeconds("bench/lingering_suite", {}, tests, work_ms, wake_ms));
    overlap.push_back(RunSeconds("bench/lingering_suite",
                                 {"--taskleak_grace_overlap"}, tests, work_ms,
                                 wake_ms));
    if (plain.back() < 0 || wait.back() < 0 || overlap.back() < 0) {
      state.SkipWithError("the lingering suite failed");
      return;
    }
  }
  const double p = Median(plain);
  state.counters["plain_s"] = p;
  state.counters["wait_s"] = Median(wait);
  state.counters["overlap_s"] = Median(overlap);
  state.counters["wait_x"] = Median(wait) / p;
  state.counters["overlap_x"] = Median(overlap) / p;
}
// Ten quick tests whose servers end up to 200 ms after them (the slack
// case), and the shape of a suite of HTTP-server tests that took 5.2x as
// long with the waiting: 50 tests of 200 ms whose servers end 650 ms later.
BENCHMARK(BM_LingeringSuite)
    ->Args({10, 5, 200})
    ->Args({50, 200, 850})
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace taskleak

BENCHMARK_MAIN();
