// Composes the internal listeners, each with one job:
//   test_state          resets what ThisTest set, at each test's start and end
//   sanitizer_listener  races (TSan) and heap leaks (LSan) per test
//   watchdog            times each test; dumps on a hang, SIGTERM, SIGQUIT
//   leak_listener       threads, tasks and descriptors left by each test
// All are appended after GoogleTest's printer, so a failure they add is
// charged to the right test. GoogleTest delivers OnTestStart in the order
// of appending and OnTestEnd in reverse: at a test's end the leak check
// runs first, while a dump still names the test (its time limit is over),
// then the watchdog lets go of the test, then the sanitizer check runs,
// after the leak check's grace, so reports from threads still ending count
// too (not with --taskleak_grace_overlap, where such a thread's race lands
// in whichever test runs when it happens); the per-test state is cleared
// last.

#include "taskleak/testing/gtest_listener.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "taskleak/runtime/symbolizer.h"
#include "taskleak/runtime/thread_origin.h"
#include "taskleak/runtime/timeline.h"
#include "taskleak/sanitizers/heap_leaks.h"
#include "taskleak/sanitizers/race_reports.h"
#include "taskleak/testing/flags.h"
#include "taskleak/testing/internal/ci_findings_listener.h"
#include "taskleak/testing/internal/death_test_child.h"
#include "taskleak/testing/internal/leak_listener.h"
#include "taskleak/testing/internal/sanitizer_listener.h"
#include "taskleak/testing/internal/test_state.h"
#include "taskleak/testing/internal/watchdog.h"

namespace taskleak {
namespace {

using Mode = GoogleTestLeakOptions::Mode;

internal::SanitizerListenerOptions SanitizerOptions(
    const GoogleTestLeakOptions& options) {
  internal::SanitizerListenerOptions sanitizer;
  sanitizer.off = options.mode == Mode::kOff;
  sanitizer.warn = options.mode == Mode::kWarn;
  sanitizer.max_frames = options.check.dump.max_frames;
  sanitizer.check_races = options.check_races;
  sanitizer.check_heap = options.check_heap;
  return sanitizer;
}

internal::LeakListenerOptions LeakOptions(
    const GoogleTestLeakOptions& options) {
  internal::LeakListenerOptions leak;
  leak.off = options.mode == Mode::kOff;
  leak.warn = options.mode == Mode::kWarn;
  leak.check = options.check;
  leak.grace_overlap = options.grace_overlap;
  // While the check waits, a dump says what for (the watchdog's timing
  // ends when the body does).
  leak.check.on_wait = &internal::WatchdogLeakCheckWaiting;
  leak.on_check_start = &internal::WatchdogLeakCheckStarted;
  leak.report_dir = options.report_dir;
  leak.timeline = options.timeline;
  return leak;
}

internal::WatchdogOptions WatchdogOptions(
    const GoogleTestLeakOptions& options) {
  internal::WatchdogOptions watchdog;
  watchdog.test_timeout = options.test_timeout;
  watchdog.dump_on_signal = options.dump_on_signal;
  watchdog.report_dir = options.report_dir;
  watchdog.github_annotations = options.github_annotations;
  watchdog.max_frames = options.check.dump.max_frames;
  return watchdog;
}

}  // namespace

bool GoogleTestLeakOptions::RacesCheckable() {
  return RaceDetectionAvailable();
}

bool GoogleTestLeakOptions::HeapCheckable() { return HeapLeakCheckAvailable(); }

void InstallGoogleTestListener(int* argc, char** argv) {
  absl::StatusOr<GoogleTestLeakOptions> options =
      ParseTaskleakFlags(argc, argv);
  if (!options.ok()) {
    fprintf(stderr, "%s\n", std::string(options.status().message()).c_str());
    exit(2);
  }
  InstallGoogleTestListener(*options);
}

void InstallGoogleTestListener(const GoogleTestLeakOptions& options) {
  // A death-test child never reaches the end of its test, so no check of
  // ours could report there, and the parent's watchdog times the whole test:
  // the child starts nothing (no probe thread, unwinder, handlers or
  // listener) and costs what GoogleTest's own main costs.
  if (internal::InDeathTestChild()) return;
  SymbolizerOptions symbolizer;
  symbolizer.library_lines = options.library_lines;
  if (!SetDefaultSymbolizerOptions(symbolizer) && options.library_lines) {
    fprintf(stderr,
            "taskleak: --taskleak_symbolize=all comes too late: something "
            "symbolized before the listener was installed\n");
  }
  // Probes the interposer now, outside the hidden scopes of the callbacks:
  // the probe starts a thread, whose creation TSan must see.
  ThreadOriginsRecorded();
  ::testing::TestEventListeners& listeners =
      ::testing::UnitTest::GetInstance()->listeners();
  // First of all: its OnTestProgramEnd runs after everyone has recorded.
  if (options.mode != Mode::kOff) {
    listeners.Append(internal::MakeCiFindingsListener(
                         options.github_annotations, options.report_dir)
                         .release());
  }
  // Then: its OnTestStart runs before the others', its OnTestEnd after.
  listeners.Append(internal::MakeTestStateListener().release());
  // Before the thread check: its OnTestEnd runs after the thread check's.
  if (std::unique_ptr<::testing::TestEventListener> sanitizer =
          internal::MakeSanitizerListener(SanitizerOptions(options))) {
    listeners.Append(sanitizer.release());
  }
  // Before any test: threads that end from now on are drawn.
  if (options.timeline) StartTimeline();
  // Before the thread check: a test's timing ends after its check.
  listeners.Append(internal::MakeWatchdogListener().release());
  listeners.Append(new internal::LeakCheckListener(LeakOptions(options)));
  // Test timeouts and dumps on SIGTERM/SIGQUIT; it prints its own errors.
  internal::InstallWatchdog(WatchdogOptions(options))
      .IgnoreError();  // Hidden inside.
}

bool LeaksFound() { return internal::LeakListenerFoundLeaks(); }

bool FailuresOutsideTests() {
  return internal::SanitizerFailuresOutsideTests();
}

}  // namespace taskleak
