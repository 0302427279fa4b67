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
// thread that runs the tests. A thread that SetUpTestSuite starts and
// TearDownTestSuite does not stop, or that TearDownTestSuite starts, fails
// the suite at its end ("Suite: SetUpTestSuite or TearDownTestSuite"). It is
// appended after GoogleTest's printer, so a leak fails the test that caused it
// (ADD_FAILURE_AT on the test's file and line): in its output, in
// --gtest_output=xml and in the exit code. Death-test children get no listener
// events and are never checked. InstallGoogleTestListener also sets up test
// timeouts
// (--taskleak_test_timeout, ThisTest::SetTimeout) and thread dumps on
// SIGTERM and SIGQUIT, with no thread of its own (under ThreadSanitizer:
// time limits only, kept by one thread): see testing/internal/watchdog.h.

#ifndef TASKLEAK_TESTING_GTEST_LISTENER_H_
#define TASKLEAK_TESTING_GTEST_LISTENER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "taskleak/leakcheck/leak_checker.h"
#include "taskleak/testing/flags.h"

namespace taskleak {

class LeakCheckListener : public ::testing::EmptyTestEventListener {
 public:
  explicit LeakCheckListener(GoogleTestLeakOptions options);

  void OnTestIterationStart(const ::testing::UnitTest& unit_test,
                            int iteration) override;
  void OnTestSuiteStart(const ::testing::TestSuite& suite) override;
  void OnTestStart(const ::testing::TestInfo& test) override;
  void OnTestEnd(const ::testing::TestInfo& test) override;
  void OnTestSuiteEnd(const ::testing::TestSuite& suite) override;
  void OnTestProgramEnd(const ::testing::UnitTest& unit_test) override;

 private:
  void CheckForLeaks(const ::testing::TestInfo& test);
  // Threads that SetUpTestSuite started, or TearDownTestSuite, and left.
  void CheckSuiteForLeaks(const ::testing::TestSuite& suite);
  // Whether suites are checked for threads of their own.
  bool SuiteChecked() const;
  // The suite checks' options: threads only.
  LeakCheckOptions SuiteCheck() const;
  // Fails the running test (or suite), at file:line.
  void Report(const char* file, int line, const LeakReport& report);
  // report_dir/taskleak-timeline.json (runtime/timeline.h).
  void WriteTimeline() const;

  GoogleTestLeakOptions options_;
  // C++14 for consumers' code that includes this header: no std::optional.
  std::unique_ptr<LeakSnapshot> snapshot_;
  // For the suite's own threads: at its start, at its last test's end, and
  // those started before its first test (by SetUpTestSuite).
  std::unique_ptr<LeakSnapshot> suite_start_;
  std::unique_ptr<LeakSnapshot> last_test_end_;
  std::vector<pid_t> suite_setup_threads_;
  bool suite_first_test_ = false;
  int iteration_ = 0;
  // "Suite.Test: summary" for the summary files.
  std::vector<std::pair<std::string, std::string>> leaks_;
  // Set once /proc turned out unreadable, so the warning is printed once.
  bool disabled_ = false;
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
