// Runs a program and collects its exit status and output, for tests that
// check what a deliberately failing binary prints.

#ifndef TASKLEAK_TESTING_TESTUTIL_SUBPROCESS_H_
#define TASKLEAK_TESTING_TESTUTIL_SUBPROCESS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace taskleak {
namespace internal {

struct ProcessResult {
  // The exit status, or 128 + signal number if it was killed.
  int exit_code = -1;
  // stdout and stderr, interleaved as written.
  std::string output;
};

// Runs `argv` with this process's environment, less the variables through
// which Bazel and GoogleTest steer a running test (output files, sharding,
// filters), plus or overridden by `env` ("NAME=value"). Kills it with
// SIGKILL if it runs past `timeout`.
absl::StatusOr<ProcessResult> RunProcess(
    const std::vector<std::string>& argv,
    const std::vector<std::string>& env = {},
    absl::Duration timeout = absl::Seconds(60));

// RunProcess for a test that checks the result: if `argv` cannot be run,
// fails the current test and returns an empty result (exit_code -1).
ProcessResult RunProcessOrFail(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env = {},
                               absl::Duration timeout = absl::Seconds(60));

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_TESTUTIL_SUBPROCESS_H_
