// How long a failing test waits for its report: 1000 leaked threads parked
// at 16 distinct stacks, grace 0, first (cold) and second (warm) report of
// a process, against --taskleak_mode=off, eu-stack and gdb; and a hung
// test's dump of every thread (BM_HangDump).
//
//   bazel run -c opt --config=offline //bench:cold_report
//
// Each iteration runs bench/leaky_suite (see testdata/leaky_suite.cc) in a
// fresh process three times: with --taskleak_mode=off, with the check on
// (grace 0), and with the check off while the first test times eu-stack
// and gdb on its own parked threads. Counters, medians over iterations:
//   cold_ms, warm_ms       report time added over --taskleak_mode=off
//   eu_stack_ms, gdb_ms    the peers' whole-process dumps of the same threads
//   gdb_over_cold, eu_stack_over_cold   how many times faster the report is
//   signal_floor_ms        what signalling the same 1000 threads costs with a
//                          handler that does nothing (the kernel's share of
//                          any signal-based capture; leaky_suite.cc)
//   cold_over_floor, warm_over_floor    each report over that floor
// BM_HangDump/100: a test hangs beside 100 parked threads and a 1 s time
// limit ends it; dump_ms is from the limit to the end of the process (the
// dump, its files and the exit), against the peers on the same threads.

#include <time.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "benchmark/benchmark.h"
#include "taskleak/testing/testutil/subprocess.h"

namespace taskleak {
namespace {

constexpr char kSuite[] = "bench/leaky_suite";

// The "NAME=VALUE" numbers of lines that start with `kind`.
std::map<std::string, double> Values(const std::string& output,
                                     absl::string_view kind) {
  std::map<std::string, double> values;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    if (!absl::ConsumePrefix(&line, kind)) continue;
    std::pair<std::string, std::string> kv = absl::StrSplit(line, '=');
    double v;
    if (absl::SimpleAtod(kv.second, &v)) values[kv.first] = v;
  }
  return values;
}

struct Gaps {
  double cold_ms = -1;
  double warm_ms = -1;
};

// Runs the suite and returns the gaps after its first and second test.
Gaps Run(std::vector<std::string> args, std::vector<std::string> env,
         std::map<std::string, double>* peers = nullptr) {
  args.insert(args.begin(), kSuite);
  absl::StatusOr<internal::ProcessResult> r =
      internal::RunProcess(args, env, absl::Seconds(300));
  Gaps g;
  if (!r.ok()) return g;
  if (peers != nullptr) *peers = Values(r->output, "peer ");
  const std::map<std::string, double> m = Values(r->output, "mark ");
  if (m.size() != 5) return g;
  g.cold_ms = (m.at("B_start") - m.at("A_end")) / 1e6;
  g.warm_ms = (m.at("C_start") - m.at("B_end")) / 1e6;
  return g;
}

constexpr char kReportDir[] = "/tmp/taskleak-bench";

// A fresh report directory, as a test's outputs directory is: rewriting a
// report in place costs ext4 a truncation and a flush at close that a real
// run never pays.
std::string FreshReportDir() {
  std::error_code ignored;
  std::filesystem::remove_all(kReportDir, ignored);
  return absl::StrCat("--taskleak_report_dir=", kReportDir);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// eu-stack's and gdb's times on the first test's threads, one pair per
// iteration (-1 where a peer failed), and how they compare with ours.
class PeerTimes {
 public:
  explicit PeerTimes(std::vector<std::string> env) : env_(std::move(env)) {
    env_.push_back("LEAKY_SUITE_PEERS=1");
  }

  // Runs the first test, checks off, with the peers timing its threads.
  void Measure() {
    std::map<std::string, double> peers;
    Run({"--taskleak_mode=off", "--gtest_filter=LeakySuite.A_*"}, env_, &peers);
    eu_.push_back(peers.count("eu_stack_ms") ? peers["eu_stack_ms"] : -1);
    gdb_.push_back(peers.count("gdb_ms") ? peers["gdb_ms"] : -1);
    floor_.push_back(peers.count("signal_floor_ms") ? peers["signal_floor_ms"]
                                                    : -1);
  }

  double FloorMs() const { return Median(floor_); }

  // The peers' medians, and each over `ours_ms` as PEER_over_`what`.
  void Report(benchmark::State& state, double ours_ms,
              const std::string& what) const {
    state.counters["eu_stack_ms"] = Median(eu_);
    state.counters["gdb_ms"] = Median(gdb_);
    state.counters["eu_stack_over_" + what] = Median(eu_) / ours_ms;
    state.counters["gdb_over_" + what] = Median(gdb_) / ours_ms;
    state.counters["signal_floor_ms"] = FloorMs();
  }

 private:
  std::vector<std::string> env_;
  std::vector<double> eu_, gdb_, floor_;
};

void BM_LeakReport(benchmark::State& state) {
  const std::vector<std::string> env = {
      absl::StrCat("LEAKY_SUITE_THREADS=", state.range(0))};
  PeerTimes peers(env);
  std::vector<double> cold, warm;
  for (auto _ : state) {
    const Gaps off = Run({"--taskleak_mode=off"}, env);
    const Gaps on = Run({"--taskleak_grace=0", FreshReportDir()}, env);
    peers.Measure();
    if (off.cold_ms < 0 || on.cold_ms < 0) {
      state.SkipWithError("the leaky suite failed or printed no marks");
      return;
    }
    cold.push_back(on.cold_ms - off.cold_ms);
    warm.push_back(on.warm_ms - off.warm_ms);
  }
  const double cold_ms = Median(cold);
  state.counters["cold_ms"] = cold_ms;
  state.counters["warm_ms"] = Median(warm);
  peers.Report(state, cold_ms, "cold");
  state.counters["cold_over_floor"] = cold_ms / peers.FloorMs();
  state.counters["warm_over_floor"] = Median(warm) / peers.FloorMs();
}
BENCHMARK(BM_LeakReport)
    ->Arg(1000)
    ->Iterations(5)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// A hung test with N parked threads besides it, ended by a 1 s time limit:
// from the limit to the end of the process (the dump of every thread, the
// report files and the exit), against the peers on the same threads.
void BM_HangDump(benchmark::State& state) {
  const std::vector<std::string> env = {
      absl::StrCat("LEAKY_SUITE_THREADS=", state.range(0))};
  std::vector<std::string> hang_env = env;
  hang_env.push_back("LEAKY_SUITE_HANG=1");
  PeerTimes peers(env);
  std::vector<double> dump;
  for (auto _ : state) {
    absl::StatusOr<internal::ProcessResult> r = internal::RunProcess(
        {kSuite, "--taskleak_test_timeout=1s", FreshReportDir(),
         "--gtest_filter=LeakySuite.A_*"},
        hang_env, absl::Seconds(120));
    const int64_t ended = MonotonicNs();
    if (!r.ok() || r->exit_code != 1 ||
        r->output.find("timed out") == std::string::npos) {
      state.SkipWithError("the hung suite did not end with a dump");
      return;
    }
    const std::map<std::string, double> m = Values(r->output, "mark ");
    if (m.count("A_start") == 0) {
      state.SkipWithError("the hung suite printed no start mark");
      return;
    }
    dump.push_back((ended - m.at("A_start")) / 1e6 - 1000);
    peers.Measure();
  }
  const double dump_ms = Median(dump);
  state.counters["dump_ms"] = dump_ms;
  peers.Report(state, dump_ms, "dump");
}
BENCHMARK(BM_HangDump)
    ->Arg(100)
    ->Iterations(5)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace taskleak

BENCHMARK_MAIN();
