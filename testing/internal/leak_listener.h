// The thread, task and descriptor half of the GoogleTest integration: a
// snapshot at each test's start, a check at its end (leakcheck/), the
// failure charged to the test, report files and, at the program's end, the
// CI findings and summaries. It also draws the timeline's test scopes.
// InstallGoogleTestListener composes it with the other listeners.

#ifndef TASKLEAK_TESTING_INTERNAL_LEAK_LISTENER_H_
#define TASKLEAK_TESTING_INTERNAL_LEAK_LISTENER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "taskleak/leakcheck/deferred_check.h"
#include "taskleak/leakcheck/leak_checker.h"

namespace taskleak {
namespace internal {

struct LeakListenerOptions {
  // Nothing is checked (--taskleak_mode=off); the timeline still runs.
  bool off = false;
  // A leak is printed as a warning instead of failing its test.
  bool warn = false;
  // Grace, tolerance, ignore rules; on_wait is called while the check waits.
  LeakCheckOptions check;
  // Called when a test's body has ended, before its check waits.
  void (*on_check_start)() = nullptr;
  // A test's threads may end while the next tests run
  // (--taskleak_grace_overlap): its check notes them and does not wait.
  // Those still alive at the first test's start or end after their grace
  // window closes, or at the iteration's end, fail the run at the iteration's
  // end, named with their test (leakcheck/deferred_check.h). Tasks and
  // descriptors are checked at each test's end as before.
  bool grace_overlap = false;
  // Where report files go; empty: none.
  std::string report_dir;
  // Per-test scopes in the timeline, written at the end
  // (report_dir/taskleak-timeline.json).
  bool timeline = false;
};

class LeakCheckListener : public ::testing::EmptyTestEventListener {
 public:
  explicit LeakCheckListener(LeakListenerOptions options);

  void OnTestIterationStart(const ::testing::UnitTest& unit_test,
                            int iteration) override;
  void OnTestSuiteStart(const ::testing::TestSuite& suite) override;
  void OnTestStart(const ::testing::TestInfo& test) override;
  void OnTestEnd(const ::testing::TestInfo& test) override;
  void OnTestSuiteEnd(const ::testing::TestSuite& suite) override;
  void OnTestIterationEnd(const ::testing::UnitTest& unit_test,
                          int iteration) override;
  void OnTestProgramEnd(const ::testing::UnitTest& unit_test) override;

 private:
  void CheckForLeaks(const ::testing::TestInfo& test);
  // Threads that SetUpTestSuite started, or TearDownTestSuite, and left.
  void CheckSuiteForLeaks(const ::testing::TestSuite& suite);
  // Whether suites are checked for threads of their own.
  bool SuiteChecked() const;
  // The suite checks' options: threads only.
  LeakCheckOptions SuiteCheck() const;
  // The deferred checks (grace_overlap) at a test's start or end: those whose
  // window has closed are finished (their leaks kept for the iteration's
  // end), those whose threads have all ended are dropped.
  void LookAtDeferredChecks();
  // At the iteration's end: waits out what is left of the other windows and
  // reports every leak the deferred checks found.
  void FinishDeferredChecks();
  struct Deferred;
  // Keeps the leak a deferred check finds.
  void Finish(Deferred& deferred);
  // Fails the running test (or suite, or the run), at file:line; `preface`
  // comes first in the message.
  void Report(const char* file, int line, const LeakReport& report,
              absl::string_view preface = "");
  // report_dir/taskleak-timeline.json (runtime/timeline.h).
  void WriteTimeline() const;

  LeakListenerOptions options_;
  std::unique_ptr<LeakSnapshot> snapshot_;
  // Tests whose threads were still running at their end (grace_overlap).
  struct Deferred {
    DeferredCheck check;
    std::string file;
    int line = 0;
  };
  std::vector<Deferred> deferred_;
  // Leaks they found, reported at the iteration's end.
  struct LateLeak {
    std::string file;
    int line = 0;
    LeakReport report;
  };
  std::vector<LateLeak> late_found_;
  // For the suite's own threads: at its start, at its last test's end, and
  // those started before its first test (by SetUpTestSuite).
  std::unique_ptr<LeakSnapshot> suite_start_;
  std::unique_ptr<LeakSnapshot> last_test_end_;
  std::vector<pid_t> suite_setup_threads_;
  bool suite_first_test_ = false;
  int iteration_ = 0;
  // "Suite.Test: summary" for the summary files.
  std::vector<std::pair<std::string, std::string>> leaks_;
  // The summaries of leaks found after their tests (grace_overlap), said
  // again under GoogleTest's summary, which counts no failed test for them.
  std::vector<std::string> late_leaks_;
  // Set once /proc turned out unreadable, so the warning is printed once.
  bool disabled_ = false;
};

// Whether any LeakCheckListener found a leak in this process.
bool LeakListenerFoundLeaks();

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_INTERNAL_LEAK_LISTENER_H_
