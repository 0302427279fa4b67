// What emergency dumps cost: arming and disarming the per-test timer (paid
// by every test when a time limit is set), and a whole dump from a signal
// (capture, fork, symbolizing in the child, formatting) with N threads.

#include <signal.h>
#include <stdlib.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "taskleak/runtime/dump.h"
#include "taskleak/runtime/signal_dump.h"

namespace {

absl::Notification& Never() {
  static auto* never = new absl::Notification;
  return *never;
}

void Reporter(const taskleak::EmergencyEvent&,
              const taskleak::ProcessDump& dump) {
  benchmark::DoNotOptimize(
      taskleak::FormatThreadsText(dump.threads, {}, dump.taken_at));
}

// How long PrepareEmergencyDump took (once per process).
absl::Duration prepare_time;

void Prepare() {
  static const bool prepared = [] {
    taskleak::EmergencyDumpOptions options;
    options.reporter = &Reporter;
    options.preload_symbolizer = getenv("PRELOAD_SYMBOLIZER") != nullptr;
    const absl::Time start = absl::Now();
    const bool ok = taskleak::PrepareEmergencyDump(options).ok();
    prepare_time = absl::Now() - start;
    return ok && taskleak::DumpOnEmergencySignal(SIGUSR1,
                                                 taskleak::AfterDump::kContinue)
                     .ok();
  }();
  if (!prepared) abort();
}

void BM_ArmAndDisarmTimer(benchmark::State& state) {
  Prepare();
  for (auto _ : state) {
    if (!taskleak::ArmEmergencyTimer(absl::Seconds(60)).ok()) {
      state.SkipWithError("cannot arm");
    }
    taskleak::DisarmEmergencyTimer();
  }
  state.counters["prepare_ms"] = absl::ToDoubleMilliseconds(prepare_time);
}
BENCHMARK(BM_ArmAndDisarmTimer);

void BM_SetFallback(benchmark::State& state) {
  Prepare();
  const std::string xml(600, 'x');
  for (auto _ : state) {
    taskleak::SetEmergencyFallback("Suite.Test", "/tmp/out.xml", xml);
  }
}
BENCHMARK(BM_SetFallback);

// Threads parked for the whole run, beyond the benchmark's own.
void Park(int n) {
  static std::vector<std::thread>* parked = new std::vector<std::thread>;
  while (static_cast<int>(parked->size()) < n) {
    parked->emplace_back([] { Never().WaitForNotification(); });
  }
}

void BM_DumpFromSignal(benchmark::State& state) {
  Prepare();
  Park(state.range(0));
  for (auto _ : state) raise(SIGUSR1);
  state.counters["threads"] = state.range(0) + 1;
}
BENCHMARK(BM_DumpFromSignal)
    ->Arg(0)
    ->Arg(10)
    ->Arg(100)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
