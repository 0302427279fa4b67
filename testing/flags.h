// The --taskleak_* command-line flags and their TASKLEAK_* environment
// twins (for `bazel test --test_env=TASKLEAK_GRACE=2s`), parsed into the
// listener's options (testing/gtest_listener.h). Flags win over the
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
#include "taskleak/testing/gtest_listener.h"

namespace taskleak {

// Reads TASKLEAK_* variables, then removes every --taskleak_* flag from
// argv and applies it. Returns InvalidArgument naming the flag and what is
// wrong for an unknown flag or a malformed value. --taskleak_test_timeout
// and --taskleak_dump_on_signal set the time limit and the signal dumps
// described in testing/gtest_listener.h ("Hung tests and signals").
absl::StatusOr<GoogleTestLeakOptions> ParseTaskleakFlags(int* argc,
                                                         char** argv);

// The flags' help text, as printed for --help; each flag's default is
// GoogleTestLeakOptions' own.
std::string TaskleakFlagsHelp();

}  // namespace taskleak

#endif  // TASKLEAK_TESTING_FLAGS_H_
