// The sanitizer half of the GoogleTest integration: a ThreadSanitizer
// report made while a test runs fails that test (sanitizers/race_reports.h),
// and so do heap blocks a test leaks, found by LeakSanitizer when it ends
// (sanitizers/heap_leaks.h). Reports made outside any test (static
// initialization, between tests, after the last one) are printed at the
// end of the program, and make gtest_main's exit status non-zero.
// InstallGoogleTestListener installs it; everything runs on the thread that
// runs the tests.

#ifndef TASKLEAK_TESTING_INTERNAL_SANITIZER_LISTENER_H_
#define TASKLEAK_TESTING_INTERNAL_SANITIZER_LISTENER_H_

#include <memory>

#include "gtest/gtest.h"

namespace taskleak {
namespace internal {

struct SanitizerListenerOptions {
  // Nothing is checked (--taskleak_mode=off).
  bool off = false;
  // Reports are printed as warnings instead of failing tests.
  bool warn = false;
  // Frames shown per stack.
  int max_frames = 32;
  // What was asked for; a check this build cannot do is warned about once.
  bool check_races = false;
  bool check_heap = false;
};

// The listener for `options`, or null if it would check nothing (mode off,
// or neither races nor heap asked for). Prints one warning line for each
// check asked for that this build cannot do. Append it after GoogleTest's
// printer and before the thread-leak listener: its OnTestEnd then runs
// after the thread check's grace period, so reports from threads that were
// still ending are charged to the test too (with the overlap of
// LeakListenerOptions::grace_overlap, to the test that runs when the report
// comes). A test whose TestState says
// skip_heap_check (testing/internal/test_state.h) has what it leaks on the
// heap absorbed, never blamed on it nor on a later test, and noted.
std::unique_ptr<::testing::TestEventListener> MakeSanitizerListener(
    const SanitizerListenerOptions& options);

// Whether a sanitizer report was made outside any test and not reported as
// a test failure (warn mode excepted). Call after RUN_ALL_TESTS.
bool SanitizerFailuresOutsideTests();

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_INTERNAL_SANITIZER_LISTENER_H_
