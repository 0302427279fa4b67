// Hung tests, SIGTERM and SIGQUIT for the GoogleTest integration: what
// users see is the contract in testing/gtest_listener.h ("Hung tests and
// signals"); this is how it is done.
//
// Design: no thread of ours exists while tests run, so GoogleTest's warning
// for death tests in a threaded process is never caused by us, and the
// fork of a death test copies no thread of ours. The timeout is a POSIX
// timer (CLOCK_MONOTONIC) armed at each test's start and disarmed at its
// end, which signals the test's own thread; the dump is made by the signal
// handler without allocating: raw stacks first, then a forked copy of the
// process symbolizes and writes the report in ordinary code (see
// runtime/signal_dump.h, which also says what happens when that
// copy cannot finish: raw addresses and a minimal XML, within 5 seconds).
// Under ThreadSanitizer, which runs a signal handler at once only on a
// thread inside one of its blocking interceptors, the timeout is kept by a
// thread of ours ("taskleak-timer") that dumps from ordinary code; threads
// blocked elsewhere (read(), pthread_mutex_lock, uninstrumented code) are
// listed without a stack, and there are no SIGTERM/SIGQUIT dumps: with a
// handler of ours SIGTERM might no longer end a hung process.

#ifndef TASKLEAK_TESTING_INTERNAL_WATCHDOG_H_
#define TASKLEAK_TESTING_INTERNAL_WATCHDOG_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace internal {

struct WatchdogOptions {
  // The longest a test may run; zero or infinite: no limit, unless a test
  // sets one with ThisTest::SetTimeout.
  absl::Duration test_timeout = absl::ZeroDuration();
  // Dump on SIGTERM (then die by it) and SIGQUIT (then go on).
  bool dump_on_signal = true;
  // Where hang reports are written; empty: no files.
  std::string report_dir;
  // Frames shown per stack.
  int max_frames = 32;
  // When a hang ends the process: print the GitHub annotations of every
  // finding so far and the hang (testing/internal/ci_findings.h).
  bool github_annotations = false;
};

// Prepares the dumps and installs the signal handlers. Returns an error if
// dumps cannot be made here (no libunwind, no free real-time signal); the
// watchdog is then off. Call once, from main, before tests run.
absl::Status InstallWatchdog(const WatchdogOptions& options);

// The listener that times each test: WatchdogTestStarted at its start,
// WatchdogTestEnded at its end. Append it before the leak listener, whose
// check then runs between the two.
std::unique_ptr<::testing::TestEventListener> MakeWatchdogListener();

// Called on the thread that runs the tests. Between
// WatchdogLeakCheckStarted and WatchdogTestEnded the test's leak check is
// waiting (no time limit applies): a signal then names the test and what
// its check waits for, reported by WatchdogLeakCheckWaiting.
void WatchdogTestStarted(const ::testing::TestInfo& test);
void WatchdogLeakCheckStarted();
void WatchdogLeakCheckWaiting(int threads, int tasks);
void WatchdogTestEnded(const ::testing::TestInfo& test);

// ThisTest::SetTimeout: the running test's limit, counted from its start.
// Call from the test's thread.
void SetCurrentTestTimeout(absl::Duration timeout);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_INTERNAL_WATCHDOG_H_
