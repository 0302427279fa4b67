#include "taskleak/testing/this_test.h"

#include <utility>
#include <vector>

#include "taskleak/testing/internal/sanitizer_listener.h"
#include "taskleak/testing/internal/watchdog.h"

namespace taskleak {
namespace {

struct Overrides {
  absl::Duration extra_grace;
  std::vector<IgnoreRule> ignore;
  int tolerance = -1;
  bool skip = false;
};

// Touched only by the thread running tests and the listener, which
// GoogleTest calls on that same thread.
Overrides& Current() {
  static Overrides* overrides = new Overrides;
  return *overrides;
}

}  // namespace

void ThisTest::AllowLingering(absl::Duration extra) {
  Current().extra_grace += extra;
}

void ThisTest::Ignore(IgnoreRule rule) {
  Current().ignore.push_back(std::move(rule));
}

void ThisTest::SetTolerance(int n) { Current().tolerance = n; }

void ThisTest::SkipLeakCheck() { Current().skip = true; }

void ThisTest::SkipHeapCheck() { internal::SkipHeapCheckForCurrentTest(); }

void ThisTest::SetTimeout(absl::Duration timeout) {
  internal::SetCurrentTestTimeout(timeout);
}

bool ThisTest::Apply(LeakCheckOptions* options) {
  const Overrides& o = Current();
  if (o.skip) return false;
  options->grace += o.extra_grace;
  for (const IgnoreRule& rule : o.ignore) options->ignore.push_back(rule);
  if (o.tolerance >= 0) options->tolerance = o.tolerance;
  return true;
}

void ThisTest::Reset() { Current() = Overrides(); }

}  // namespace taskleak
