#include "taskleak/testing/internal/test_state.h"

#include "taskleak/runtime/internal/hidden_from_tsan.h"

namespace taskleak {
namespace internal {
namespace {

class TestStateListener : public ::testing::EmptyTestEventListener {
 public:
  // Hidden from ThreadSanitizer (runtime/internal/hidden_from_tsan.h), as
  // all of taskleak's bookkeeping, so that it orders no user threads.
  void OnTestStart(const ::testing::TestInfo&) override {
    HiddenFromTsan hidden;
    CurrentTestState() = TestState();
  }
  void OnTestEnd(const ::testing::TestInfo&) override {
    HiddenFromTsan hidden;
    CurrentTestState() = TestState();
  }
};

}  // namespace

TestState& CurrentTestState() {
  static TestState* state = new TestState;
  return *state;
}

bool ApplyTestState(LeakCheckOptions* options) {
  const TestState& o = CurrentTestState();
  if (o.skip) return false;
  options->grace += o.extra_grace;
  for (const IgnoreRule& rule : o.ignore) options->ignore.push_back(rule);
  if (o.tolerance >= 0) options->tolerance = o.tolerance;
  return true;
}

std::unique_ptr<::testing::TestEventListener> MakeTestStateListener() {
  return std::make_unique<TestStateListener>();
}

}  // namespace internal
}  // namespace taskleak
