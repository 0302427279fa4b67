// Hung tests, SIGTERM and SIGQUIT for the GoogleTest integration.
//
// A test that runs past its timeout (--taskleak_test_timeout, or
// ThisTest::SetTimeout inside the test) is named, with how long it ran and a
// dump of every thread (where it is, where it was created); the same goes to
// REPORT_DIR/taskleak-hang-SUITE.TEST.txt; the XML report GoogleTest was
// asked for (--gtest_output=xml, XML_OUTPUT_FILE) is written with that test
// failed and the tests after it not run; then the process ends with
// _exit(1): GoogleTest's failure status, without static destructors, which
// hung threads could block forever.
//
// On SIGTERM (how `bazel test` ends a test past its time limit) the same
// dump names the running test, the XML is written, and the process dies by
// SIGTERM. On SIGQUIT (kill -QUIT) the dump is printed and the tests go on.
// A handler the program installed on either signal is left in place (said
// once on stderr).
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
// Limits: a test thread that blocks all signals is never interrupted.
// Under ThreadSanitizer all of this is off (said once if a time limit was
// asked for): TSan runs a signal handler only when the thread reaches one
// of its safe points, which a hung thread never does, and with a handler of
// ours installed SIGTERM would no longer end the process.
// Test suite set-up and tear-down and global environments are not timed.
// A death-test child that hangs is left running when the parent ends.

#ifndef TASKLEAK_TESTING_INTERNAL_WATCHDOG_H_
#define TASKLEAK_TESTING_INTERNAL_WATCHDOG_H_

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

// Called by the listener on the thread that runs the tests. Between
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
