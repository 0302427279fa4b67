// GoogleTest integration: every test that leaves a thread, a task or (when
// asked) a file descriptor behind fails, with a report of what was left,
// where it is stuck and where it was started.
//
// Easiest: depend on //testing:gtest_main instead of GoogleTest's. With a
// main of your own, one call after InitGoogleTest:
//
//   int main(int argc, char** argv) {
//     testing::InitGoogleTest(&argc, argv);
//     taskleak::InstallGoogleTestListener(&argc, argv);
//     return RUN_ALL_TESTS();
//   }
//
// The listener snapshots at each test's start and checks at its end, on the
// thread that runs the tests. It is appended after GoogleTest's printer, so
// a leak fails the test that caused it (ADD_FAILURE_AT on the test's file
// and line): in its output, in --gtest_output=xml and in the exit code. A
// thread that SetUpTestSuite starts and TearDownTestSuite does not stop, or
// that TearDownTestSuite starts, fails the suite at its end ("Suite:
// SetUpTestSuite or TearDownTestSuite"). Death-test children start nothing
// of taskleak's and are never checked.
//
// Hung tests and signals. InstallGoogleTestListener also times each test
// and dumps threads on SIGTERM and SIGQUIT, with no thread of its own
// (under ThreadSanitizer, see Limits):
//   - A test that runs past its timeout (GoogleTestLeakOptions::test_timeout,
//     --taskleak_test_timeout, or ThisTest::SetTimeout inside the test) is
//     named with how long it ran and a dump of every thread (where it is,
//     where it was created); the same goes to
//     REPORT_DIR/taskleak-hang-SUITE.TEST.txt; the XML report GoogleTest was
//     asked for (--gtest_output=xml, XML_OUTPUT_FILE) is written with that
//     test failed and the tests after it not run; then the process ends with
//     _exit(1), without static destructors, which hung threads could block.
//   - On SIGTERM (how `bazel test` ends a test past its time limit) the same
//     dump names the running test, the XML is written, and the process dies
//     by SIGTERM. On SIGQUIT (kill -QUIT) the dump is printed and the tests
//     go on. A handler the program installed on either signal is left in
//     place (said once on stderr). dump_on_signal = false turns both off.
//   - If the dump cannot be made in full (a lock held by a vanished thread),
//     raw addresses and a minimal XML report are written within 5 seconds.
//   - Limits: under ThreadSanitizer, time limits are kept by one thread of
//     taskleak's ("taskleak-timer") and threads blocked where TSan delivers
//     no signal (read(), pthread_mutex_lock) are listed without a stack;
//     SIGTERM and SIGQUIT keep their default actions. A test thread that
//     blocks every signal is never interrupted; SetUpTestSuite,
//     TearDownTestSuite and global environments are not timed; a death-test
//     child that hangs is left running.

#ifndef TASKLEAK_TESTING_GTEST_LISTENER_H_
#define TASKLEAK_TESTING_GTEST_LISTENER_H_

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "taskleak/leakcheck/leak_checker.h"

namespace taskleak {

// Everything the GoogleTest integration can be told; testing/flags.h fills
// it from --taskleak_* flags and TASKLEAK_* variables.
struct GoogleTestLeakOptions {
  enum class Mode {
    kFail,  // a leak fails the test that caused it
    kWarn,  // a leak is printed, tests pass
    kOff,   // nothing is checked
  };
  Mode mode = Mode::kFail;
  // Grace, tolerance, ignore rules, what to check, frames shown.
  LeakCheckOptions check;
  // Tests do not wait for their threads to end: each test's threads still
  // running at its end get their grace window while the next tests run;
  // those alive at the first test's start or end after it closes (or at
  // the run's end) fail the run at its end, with a report naming the test that
  // started them (leakcheck/deferred_check.h). For suites whose servers
  // stop a few hundred milliseconds after each test. GoogleTest counts such
  // a leak against the run (outside any test), not against the test, which
  // has passed by then. Tasks and descriptors are checked at each test's
  // end as before; ignore rules may run as late as the run's end. The
  // README lists what else changes.
  bool grace_overlap = false;
  // Fail a test during which ThreadSanitizer reports a data race (or any
  // other TSan report). Default: RacesCheckable(); asking for it in another
  // build prints a warning and checks nothing.
  bool check_races = RacesCheckable();
  // Fail a test that leaks heap blocks (LeakSanitizer, after each test).
  // Default: HeapCheckable(), with the same warning otherwise.
  bool check_heap = HeapCheckable();
  // Where report files go; empty: no files. (ParseTaskleakFlags sets
  // $TEST_UNDECLARED_OUTPUTS_DIR if set, as under `bazel test`; else,
  // outside Bazel, the directory of the test executable.)
  std::string report_dir;
  // Print ::error annotations for GitHub Actions (ParseTaskleakFlags: when
  // the environment has GITHUB_ACTIONS=true).
  bool github_annotations = false;
  // A test running longer is ended with a dump of every thread, and the
  // process exits with status 1 (see "Hung tests and signals" above). Zero:
  // no limit.
  absl::Duration test_timeout = absl::ZeroDuration();
  // On SIGTERM and SIGQUIT, print every thread's stack and the running test.
  bool dump_on_signal = true;
  // Write report_dir/taskleak-timeline.json (runtime/timeline.h) at the end.
  bool timeline = false;
  // file:line and inlined frames for library code too (libc, libstdc++,
  // GoogleTest), whose frames reports fold; by default their names come
  // from the symbol table (SymbolizerOptions::library_lines).
  bool library_lines = false;

  // Whether this process can check races: built with ThreadSanitizer, whose
  // report hook taskleak could install (sanitizers/race_reports.h).
  static bool RacesCheckable();
  // Whether this process can check heap leaks: built with LeakSanitizer, not
  // turned off by detect_leaks=0 (sanitizers/heap_leaks.h).
  static bool HeapCheckable();
};

// Parses the --taskleak_* flags out of argv (see testing/flags.h) and
// installs the listener. On a bad flag, prints what is wrong and exits with
// status 2 before any test runs. Call after testing::InitGoogleTest.
void InstallGoogleTestListener(int* argc, char** argv);

// Installs the listener with explicit options; no flags are read.
void InstallGoogleTestListener(const GoogleTestLeakOptions& options);

// Whether any test in this process leaked. A leaked thread can keep the
// process from exiting (static destructors wait for it); gtest_main then
// ends with _exit after GoogleTest has written its outputs.
bool LeaksFound();

// Whether a sanitizer reported a data race or a heap leak outside any test
// (static initialization, between tests, after the last test); the report
// is printed at the end of the program. gtest_main then exits non-zero. Call
// after RUN_ALL_TESTS.
bool FailuresOutsideTests();

}  // namespace taskleak

#endif  // TASKLEAK_TESTING_GTEST_LISTENER_H_
