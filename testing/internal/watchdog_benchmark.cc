// What the watchdog adds: per test (arming the timer at the start, disarming
// it at the end, keeping the fallback text current), and per test binary
// (preparing dumps at start-up), measured on a one-test run of hang_suite.

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "gtest/gtest.h"
#include "taskleak/testing/internal/watchdog.h"
#include "taskleak/testing/testutil/subprocess.h"

namespace {

// Gives the hooks a real TestInfo.
TEST(WatchdogBenchmark, Placeholder) {}

const ::testing::TestInfo& Placeholder() {
  return *::testing::UnitTest::GetInstance()->GetTestSuite(0)->GetTestInfo(0);
}

void BM_TestStartAndEnd(benchmark::State& state) {
  static const bool installed = [] {
    taskleak::internal::WatchdogOptions options;
    options.test_timeout = absl::Seconds(60);
    options.dump_on_signal = false;
    return taskleak::internal::InstallWatchdog(options).ok();
  }();
  if (!installed) state.SkipWithError("cannot install the watchdog");
  const ::testing::TestInfo& test = Placeholder();
  for (auto _ : state) {
    taskleak::internal::WatchdogTestStarted(test);
    taskleak::internal::WatchdogTestEnded(test);
  }
}
BENCHMARK(BM_TestStartAndEnd);

// One quick test in a fresh process: dumps prepared (1) or not (0).
void BM_SuiteRun(benchmark::State& state) {
  const std::vector<std::string> argv = {
      "testing/testdata/hang_suite", "--gtest_filter=HangTest.Finishes",
      state.range(0) ? "--taskleak_dump_on_signal=true"
                     : "--taskleak_dump_on_signal=false"};
  for (auto _ : state) {
    absl::StatusOr<taskleak::internal::ProcessResult> r =
        taskleak::internal::RunProcess(argv);
    if (!r.ok() || r->exit_code != 0) state.SkipWithError("run failed");
  }
}
BENCHMARK(BM_SuiteRun)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
