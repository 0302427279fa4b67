// Per-test control of the leak check, from inside a test body or a fixture's
// SetUp. Each setting lasts until the end of the current test only.
//
//   TEST(CacheTest, RefreshesInTheBackground) {
//     taskleak::ThisTest::AllowLingering(absl::Seconds(3));
//     taskleak::ThisTest::Ignore(taskleak::IgnoreThreadName("grpc_.*"));
//     taskleak::ThisTest::SetTolerance(1);
//     ...
//   }
//
// Call from the test's own thread (the one GoogleTest runs it on); the
// settings are read when the test ends.

#ifndef TASKLEAK_TESTING_THIS_TEST_H_
#define TASKLEAK_TESTING_THIS_TEST_H_

#include "absl/time/time.h"
#include "taskleak/leakcheck/leak_checker.h"

namespace taskleak {

class ThisTest {
 public:
  // Gives this test's threads and tasks `extra` time beyond the grace.
  static void AllowLingering(absl::Duration extra);
  // Adds an ignore rule for this test.
  static void Ignore(IgnoreRule rule);
  // Allows up to `n` new threads and `n` new tasks in this test.
  static void SetTolerance(int n);
  // Skips the leak check for this test.
  static void SkipLeakCheck();
  // Skips the heap leak check (--taskleak_check=heap, LeakSanitizer builds)
  // for this test: what it leaks is absorbed and noted, never blamed on it
  // or on a later test.
  static void SkipHeapCheck();
  // Sets this test's time limit, counted from its start, in place of
  // --taskleak_test_timeout; takes effect at once. Past it, the test is
  // named with a dump of every thread, the XML report is written with it
  // failed, and the process ends with status 1 (testing/gtest_listener.h,
  // "Hung tests and signals"). Zero or absl::InfiniteDuration(): no limit.
  // Needs taskleak's listener; outside a test it is ignored with a warning.
  static void SetTimeout(absl::Duration timeout);
};

}  // namespace taskleak

#endif  // TASKLEAK_TESTING_THIS_TEST_H_
