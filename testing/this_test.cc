#include "taskleak/testing/this_test.h"

#include <utility>

#include "taskleak/testing/internal/test_state.h"
#include "taskleak/testing/internal/watchdog.h"

namespace taskleak {

using internal::CurrentTestState;

void ThisTest::AllowLingering(absl::Duration extra) {
  CurrentTestState().extra_grace += extra;
}

void ThisTest::Ignore(IgnoreRule rule) {
  CurrentTestState().ignore.push_back(std::move(rule));
}

void ThisTest::SetTolerance(int n) { CurrentTestState().tolerance = n; }

void ThisTest::SkipLeakCheck() { CurrentTestState().skip = true; }

void ThisTest::SkipHeapCheck() { CurrentTestState().skip_heap_check = true; }

void ThisTest::SetTimeout(absl::Duration timeout) {
  internal::SetCurrentTestTimeout(timeout);
}

}  // namespace taskleak
