// What taskleak's listener adds to every clean test, against GoogleTest's own
// gtest_main, with 0, 1,000 and 10,000 threads parked in the background.
//
//   bazel run -c opt --config=offline //bench:clean_test_cost
//
// Each iteration runs the 2,000-test suite linked with GoogleTest's
// gtest_main (plain) and with //testing:gtest_main (taskleak), back to back,
// so that a shared, loaded machine affects both sides alike. The suite
// itself times tests 2 to 2,000 (start-up, starting the background threads
// and the first snapshot, which may list every thread once, are left out),
// in wall time and in CPU time. Counters, medians over iterations, per test:
//   added_cpu_us, added_wall_us   taskleak minus plain
//   plain_cpu_us, plain_wall_us   what a trivial test costs under plain
// On a loaded machine the wall figures mostly measure the run queue; the
// CPU figures are the ones to compare.

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "taskleak/testing/testutil/subprocess.h"

namespace taskleak {
namespace {

struct PerTest {
  double wall_us = -1;
  double cpu_us = -1;
};

// Runs one suite and reads its "wall_us=... cpu_us=..." line.
PerTest Run(const std::string& binary, int background) {
  absl::StatusOr<internal::ProcessResult> r = internal::RunProcess(
      {binary, "--gtest_brief=1"},
      {absl::StrCat("CLEAN_SUITE_BACKGROUND_THREADS=", background)},
      absl::Seconds(300));
  PerTest t;
  if (!r.ok() || r->exit_code != 0) return t;
  const size_t wall = r->output.find("wall_us=");
  const size_t cpu = r->output.find("cpu_us=");
  if (wall == std::string::npos || cpu == std::string::npos) return t;
  double wall_us, cpu_us;
  auto number = [&](size_t at) {
    const size_t end = r->output.find_first_of(" \n", at);
    return r->output.substr(at, end - at);
  };
  if (!absl::SimpleAtod(number(wall + 8), &wall_us) ||
      !absl::SimpleAtod(number(cpu + 7), &cpu_us)) {
    return t;
  }
  constexpr int kTimedTests = 1999;
  t.wall_us = wall_us / kTimedTests;
  t.cpu_us = cpu_us / kTimedTests;
  return t;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void BM_CleanTestAddedCost(benchmark::State& state) {
  const int background = static_cast<int>(state.range(0));
  std::vector<double> added_cpu, added_wall, plain_cpu, plain_wall;
  for (auto _ : state) {
    const PerTest plain = Run("bench/clean_suite_plain", background);
    const PerTest ours = Run("bench/clean_suite", background);
    if (plain.cpu_us < 0 || ours.cpu_us < 0) {
      state.SkipWithError("the clean suite failed or printed no timing");
      return;
    }
    added_cpu.push_back(ours.cpu_us - plain.cpu_us);
    added_wall.push_back(ours.wall_us - plain.wall_us);
    plain_cpu.push_back(plain.cpu_us);
    plain_wall.push_back(plain.wall_us);
  }
  state.counters["added_cpu_us"] = Median(added_cpu);
  state.counters["added_wall_us"] = Median(added_wall);
  state.counters["plain_cpu_us"] = Median(plain_cpu);
  state.counters["plain_wall_us"] = Median(plain_wall);
}
BENCHMARK(BM_CleanTestAddedCost)
    ->Arg(0)
    ->Arg(1000)
    ->Arg(10000)
    ->Iterations(7)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace taskleak

BENCHMARK_MAIN();
