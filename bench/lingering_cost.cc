// What tests whose server threads end after them cost, against GoogleTest's
// own gtest_main: taskleak waiting at each test's end for its threads (the
// default), and with --taskleak_grace_overlap, where the next tests run
// while they end.
//
//   bazel run -c opt --config=offline //bench:lingering_cost
//
// Each iteration runs bench/testdata/lingering_suite three ways, back to
// back: plain, taskleak, taskleak with the overlap. Each test starts a
// server thread that ends about 200 ms after the test, at its next wake-up.
// Arguments: tests, each test's work in ms. Counters, medians over
// iterations: plain_s, wait_s, overlap_s (whole runs, wall time) and the
// ratios wait_x and overlap_x over plain.

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
                  int tests, int work_ms) {
  std::vector<std::string> argv = {binary, "--gtest_brief=1"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  const absl::Time start = absl::Now();
  absl::StatusOr<internal::ProcessResult> r =
      internal::RunProcess(argv,
                           {absl::StrCat("LINGERING_SUITE_TESTS=", tests),
                            absl::StrCat("LINGERING_SUITE_WORK_MS=", work_ms)},
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
  std::vector<double> plain, wait, overlap;
  for (auto _ : state) {
    plain.push_back(
        RunSeconds("bench/lingering_suite_plain", {}, tests, work_ms));
    wait.push_back(RunSeconds("bench/lingering_suite", {}, tests, work_ms));
    overlap.push_back(RunSeconds("bench/lingering_suite",
                                 {"--taskleak_grace_overlap"}, tests, work_ms));
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
// Ten quick tests (the slack case), and thirty that each work 150 ms, like
// a suite of HTTP-server tests.
BENCHMARK(BM_LingeringSuite)
    ->Args({10, 5})
    ->Args({30, 150})
    ->Iterations(3)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace taskleak

BENCHMARK_MAIN();
