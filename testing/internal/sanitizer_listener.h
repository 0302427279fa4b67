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
#include "taskleak/testing/flags.h"

namespace taskleak {
namespace internal {

// The listener for `options`, or null if it would check nothing (mode off,
// or neither races nor heap asked for). Prints one warning line for each
// check asked for that this build cannot do. Append it after GoogleTest's
// printer and before the thread-leak listener: its OnTestEnd then runs
// after the thread check's grace period, so reports from threads that were
// still ending are charged to the test too.
std::unique_ptr<::testing::TestEventListener> MakeSanitizerListener(
    const GoogleTestLeakOptions& options);

// Skips the heap check of the test now running: what it leaks is absorbed
// (never blamed on it, nor on a later test) and mentioned in a note. Call
// from the test's own thread.
void SkipHeapCheckForCurrentTest();

// Whether a sanitizer report was made outside any test and not reported as
// a test failure (warn mode excepted). Call after RUN_ALL_TESTS.
bool SanitizerFailuresOutsideTests();

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_INTERNAL_SANITIZER_LISTENER_H_
