#include "taskleak/testing/testutil/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

extern char** environ;

namespace taskleak {
namespace internal {
namespace {

// Variables through which Bazel and GoogleTest steer the running test; the
// child must not write the parent's XML, shard status or exit marker.
bool IsTestRunnerVariable(absl::string_view name) {
  for (absl::string_view v :
       {"TEST_PREMATURE_EXIT_FILE", "XML_OUTPUT_FILE", "GTEST_OUTPUT",
        "TEST_SHARD_STATUS_FILE", "TEST_TOTAL_SHARDS", "TEST_SHARD_INDEX",
        "GTEST_SHARD_STATUS_FILE", "GTEST_TOTAL_SHARDS", "GTEST_SHARD_INDEX",
        "TESTBRIDGE_TEST_ONLY", "TEST_UNDECLARED_OUTPUTS_DIR"}) {
    if (name == v) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         const std::vector<std::string>& env,
                                         absl::Duration timeout) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);

  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const absl::string_view var = *e;
    const absl::string_view name = var.substr(0, var.find('='));
    if (IsTestRunnerVariable(name)) continue;
    bool overridden = false;
    for (const std::string& mine : env) {
      overridden =
          overridden || absl::StartsWith(mine, absl::StrCat(name, "="));
    }
    if (!overridden) env_strings.emplace_back(var);
  }
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (const std::string& e : env_strings) {
    envp.push_back(const_cast<char*>(e.c_str()));
  }
  envp.push_back(nullptr);

  pid_t pid;
  const int rc =
      posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  if (rc != 0) {
    close(out[0]);
    return absl::NotFoundError(
        absl::StrCat("cannot run ", argv[0], ": ", strerror(rc)));
  }

  ProcessResult result;
  const absl::Time deadline = absl::Now() + timeout;
  bool killed = false;
  for (;;) {
    const int wait_ms =
        static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (wait_ms <= 0 && !killed) {
      kill(pid, SIGKILL);
      killed = true;
    }
    struct pollfd p = {out[0], POLLIN, 0};
    const int ready = poll(&p, 1, killed ? 1000 : wait_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      if (killed) break;
      continue;
    }
    char buf[4096];
    const ssize_t n = read(out[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf, n);
  }
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (killed) {
    absl::StrAppend(&result.output, "\n[killed after ",
                    absl::FormatDuration(timeout), "]\n");
  }
  return result;
}

ProcessResult RunProcessOrFail(const std::vector<std::string>& argv,
                               const std::vector<std::string>& env,
                               absl::Duration timeout) {
  absl::StatusOr<ProcessResult> result = RunProcess(argv, env, timeout);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : ProcessResult{};
}

}  // namespace internal
}  // namespace taskleak
