// The --taskleak_* command-line flags and their TASKLEAK_* environment
// twins (for `bazel test --test_env=TASKLEAK_GRACE=2s`). Flags win over the
// environment.
//
//   absl::StatusOr<taskleak::GoogleTestLeakOptions> options =
//       taskleak::ParseTaskleakFlags(&argc, argv);
//   if (!options.ok()) {
//     std::cerr << options.status().message() << "\n";
//     return 2;
//   }
//
// Not thread-safe: call from main before tests start.

#ifndef TASKLEAK_TESTING_FLAGS_H_
#define TASKLEAK_TESTING_FLAGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "taskleak/leakcheck/leak_checker.h"
#include "taskleak/sanitizers/heap_leaks.h"
#include "taskleak/sanitizers/race_reports.h"

namespace taskleak {

// Everything the GoogleTest integration can be told.
struct GoogleTestLeakOptions {
  enum class Mode {
    kFail,  // a leak fails the test that caused it
    kWarn,  // a leak is printed, tests pass
    kOff,   // nothing is checked
  };
  Mode mode = Mode::kFail;
  // Grace, tolerance, ignore rules, what to check, frames shown.
  LeakCheckOptions check;
  // Fail a test during which ThreadSanitizer reports a data race (or any
  // other TSan report). Default: on in a TSan build; asking for it in
  // another build prints a warning and checks nothing.
  bool check_races = RaceDetectionAvailable();
  // Fail a test that leaks heap blocks (LeakSanitizer, after each test).
  // Default: on in an ASan/LSan build, with the same warning otherwise.
  bool check_heap = HeapLeakCheckAvailable();
  // Where report files go. Default: $TEST_UNDECLARED_OUTPUTS_DIR if set (as
  // under `bazel test`); else, outside Bazel (no $TEST_SRCDIR: ctest, a
  // binary run by hand), the directory of the test executable. Empty: no
  // files.
  std::string report_dir;
  // Print ::error annotations for GitHub Actions; default: when the
  // environment has GITHUB_ACTIONS=true.
  bool github_annotations = false;
  // A test running longer is ended with a dump of every thread, and the
  // process exits with status 1 (testing/internal/watchdog.h). Zero: no
  // limit.
  absl::Duration test_timeout = absl::ZeroDuration();
  // On SIGTERM and SIGQUIT, print every thread's stack and the running test.
  bool dump_on_signal = true;
  // Write report_dir/taskleak-timeline.json (runtime/timeline.h) at the end.
  bool timeline = false;
};

// Reads TASKLEAK_* variables, then removes every --taskleak_* flag from
// argv and applies it. Returns InvalidArgument naming the flag and what is
// wrong for an unknown flag or a malformed value.
absl::StatusOr<GoogleTestLeakOptions> ParseTaskleakFlags(int* argc,
                                                         char** argv);

// The flags' help text, as printed for --help.
std::string TaskleakFlagsHelp();

}  // namespace taskleak

#endif  // TASKLEAK_TESTING_FLAGS_H_
