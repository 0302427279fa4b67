#include "taskleak/runtime/signal_dump.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/dump_test_util.h"
#include "taskleak/runtime/thread_list.h"
#include "taskleak/testing/testutil/test_files.h"

namespace taskleak {

std::string DumpTestHeader() { return "dump-test header line"; }

void DumpTestProgramHandler(int) {}
void DumpTestProgramSigaction(int, siginfo_t*, void*) {}

namespace {

using ::taskleak::internal::ReadFile;
using ::testing::HasSubstr;

// Waits (bounded) until `path` contains `needle`.
bool AwaitFileContains(const std::string& path, absl::string_view needle,
                       int times = 1) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    const std::string text = ReadFile(path);
    int seen = 0;
    for (size_t at = text.find(std::string(needle)); at != std::string::npos;
         at = text.find(std::string(needle), at + 1)) {
      ++seen;
    }
    if (seen >= times) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

int CountThreadsNamed(absl::string_view name) {
  absl::StatusOr<std::vector<ThreadInfo>> threads = ListThreads();
  int n = 0;
  if (threads.ok()) {
    for (const ThreadInfo& t : *threads) n += t.name == name;
  }
  return n;
}

TEST(DumpOnSignalTest, SigquitWritesTheDumpToTheFileAndStderrAndKeepsRunning) {
  ParkedThreads threads;
  threads.Start(DumpTestParkForSignal, "dt-on-signal");
  ASSERT_EQ(threads.AwaitParked().size(), 1u);

  const std::string dir = ::testing::TempDir();
  const std::string file =
      absl::StrCat(dir, "/dump_on_signal.", getpid(), ".txt");
  const std::string err =
      absl::StrCat(dir, "/dump_on_signal_stderr.", getpid(), ".txt");
  unlink(file.c_str());
  unlink(err.c_str());

  DumpOnSignalOptions options;
  options.file = file;
  options.header = DumpTestHeader;
  // Installs once per process (--gtest_repeat runs this test again with the
  // same file name, which contains the pid).
  static bool installed = false;
  if (!installed) {
    const absl::Status status = InstallDumpOnSignal(SIGQUIT, options);
    ASSERT_TRUE(status.ok()) << status;
    installed = true;
  }
  // Installing twice on one signal is refused.
  EXPECT_EQ(InstallDumpOnSignal(SIGQUIT, options).code(),
            absl::StatusCode::kAlreadyExists);

  // Catch what the dump writes to stderr.
  fflush(stderr);
  const int saved_stderr = dup(STDERR_FILENO);
  ASSERT_GE(saved_stderr, 0);
  const int err_fd = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(err_fd, 0) << strerror(errno);
  dup2(err_fd, STDERR_FILENO);
  close(err_fd);
  absl::Cleanup restore_stderr = [saved_stderr] {
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
  };

  ASSERT_EQ(raise(SIGQUIT), 0);
  const bool in_file = AwaitFileContains(file, "\"dt-on-signal\"");
  // The dump goes to stderr first, then to the file.
  const bool in_stderr = AwaitFileContains(err, "\"dt-on-signal\"");
  // A second signal appends a second dump: the process is still serving.
  ASSERT_EQ(raise(SIGQUIT), 0);
  const bool second = AwaitFileContains(file, "taskleak dump of pid", 2);

  std::move(restore_stderr).Invoke();

  EXPECT_TRUE(in_file) << ReadFile(file);
  EXPECT_TRUE(in_stderr) << ReadFile(err);
  EXPECT_TRUE(second) << ReadFile(file);
  const std::string dumped = ReadFile(file);
  EXPECT_TRUE(absl::StartsWith(dumped, "dump-test header line\n")) << dumped;
  EXPECT_THAT(dumped,
              HasSubstr(absl::StrCat("taskleak dump of pid ", getpid())));
  if (!kThreadSanitizer) {
    EXPECT_THAT(dumped, HasSubstr("DumpTestParkForSignal("));
    EXPECT_THAT(dumped, HasSubstr("dump_test_util.cc:"));
  }
  EXPECT_EQ(CountThreadsNamed("taskleak-dump"), 1);
}

TEST(DumpOnSignalTest, SignalWithAProgramHandlerIsRefusedAndKeepsIt) {
  const int before = CountThreadsNamed("taskleak-dump");
  struct sigaction mine = {};
  mine.sa_handler = DumpTestProgramHandler;
  sigemptyset(&mine.sa_mask);
  struct sigaction old;
  ASSERT_EQ(sigaction(SIGUSR1, &mine, &old), 0);
  const absl::Status status = InstallDumpOnSignal(SIGUSR1);
  struct sigaction now;
  sigaction(SIGUSR1, nullptr, &now);
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("already has a handler"));
  EXPECT_EQ(now.sa_handler, DumpTestProgramHandler);

  struct sigaction mine_info = {};
  mine_info.sa_sigaction = DumpTestProgramSigaction;
  mine_info.sa_flags = SA_SIGINFO;
  sigemptyset(&mine_info.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &mine_info, &old), 0);
  const absl::Status info_status = InstallDumpOnSignal(SIGUSR2);
  sigaction(SIGUSR2, nullptr, &now);
  sigaction(SIGUSR2, &old, nullptr);
  EXPECT_EQ(info_status.code(), absl::StatusCode::kFailedPrecondition)
      << info_status;
  EXPECT_EQ(now.sa_sigaction, DumpTestProgramSigaction);
  EXPECT_NE(now.sa_flags & SA_SIGINFO, 0);

  // No dump thread was started for either.
  EXPECT_EQ(CountThreadsNamed("taskleak-dump"), before);
}

TEST(DumpOnSignalTest, InvalidSignalsAreRefused) {
  const int before = CountThreadsNamed("taskleak-dump");
  for (int signo : {0, -1, 65, 1000, SIGKILL, SIGSTOP, 32, 33}) {
    const absl::Status status = InstallDumpOnSignal(signo);
    EXPECT_FALSE(status.ok()) << "signal " << signo;
    EXPECT_THAT(std::string(status.message()),
                HasSubstr(absl::StrCat("signal ", signo)));
  }
  EXPECT_EQ(CountThreadsNamed("taskleak-dump"), before);
  // The default action of SIGKILL cannot have been touched; that of a
  // glibc-internal signal is checked by the failure above.
}

}  // namespace
}  // namespace taskleak
