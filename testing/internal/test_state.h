// The running test's own settings (what ThisTest set), in one place: reset
// when each test starts and ends, read by the leak and sanitizer listeners.
// Touched only by the thread that runs the tests (GoogleTest delivers
// listener events on it, and ThisTest is called from it).

#ifndef TASKLEAK_TESTING_INTERNAL_TEST_STATE_H_
#define TASKLEAK_TESTING_INTERNAL_TEST_STATE_H_

#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "taskleak/leakcheck/leak_checker.h"

namespace taskleak {
namespace internal {

struct TestState {
  // ThisTest::AllowLingering, Ignore, SetTolerance (-1: unset),
  // SkipLeakCheck.
  absl::Duration extra_grace;
  std::vector<IgnoreRule> ignore;
  int tolerance = -1;
  bool skip = false;
  // ThisTest::SkipHeapCheck: what the test leaks on the heap is absorbed
  // and noted, never blamed.
  bool skip_heap_check = false;
};

// The running test's state.
TestState& CurrentTestState();

// This test's leak-check options, given the suite-wide ones. Returns false
// if the check is skipped.
bool ApplyTestState(LeakCheckOptions* options);

// Clears the state at each test's start and end. Append it before the
// other listeners: its OnTestStart then runs first, its OnTestEnd last.
std::unique_ptr<::testing::TestEventListener> MakeTestStateListener();

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_INTERNAL_TEST_STATE_H_
