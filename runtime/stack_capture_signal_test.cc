// Which signal a capture uses: it never takes over a signal the program
// handles or ignores, picks a free real-time signal itself, and ignores the
// signals it did not queue.

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/stack_capture.h"
#include "taskleak/runtime/stack_capture_test_util.h"

namespace taskleak {
namespace {

using ::testing::HasSubstr;

TEST(StackCaptureTest, IgnoresSignalsItDidNotQueue) {
  ParkedThread parked(ParkedThread::kConditionWait);
  const pid_t tid = parked.tid();
  ASSERT_TRUE(CaptureThreadStacks({&tid, 1}).ok());  // Installs the handler.
  const int signal = ActiveStackCaptureSignal();
  ASSERT_NE(signal, 0);

  // From this process but not queued (SI_TKILL).
  ASSERT_EQ(syscall(SYS_tgkill, getpid(), tid, signal), 0);
  // Queued by this process with values naming no armed slot.
  for (uintptr_t value : {uintptr_t{0}, ~uintptr_t{0}, uintptr_t{12345}}) {
    sigval v;
    v.sival_ptr = reinterpret_cast<void*>(value);
    ASSERT_EQ(sigqueue(getpid(), signal, v), 0);
  }
  // Queued by another process.
  const pid_t parent = getpid();
  const pid_t child = fork();
  if (child == 0) {
    sigval v;
    v.sival_ptr = nullptr;
    _exit(sigqueue(parent, signal, v) == 0 ? 0 : 1);
  }
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  // All of them are delivered and ignored (the default action would have
  // ended the process), and capture still works.
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (!NothingPending(tid, signal) && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_TRUE(NothingPending(tid, signal));
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks({&tid, 1});
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  SKIP_UNLESS_ANSWERED((*stacks)[0]);
  EXPECT_GE(FramesIn((*stacks)[0].pcs, parked.function()), 1);
}

// Installs a handler of the program's own on `signal` and restores the
// previous disposition when destroyed.
void ProgramHandler(int) {}

class ProgramSignalHandler {
 public:
  explicit ProgramSignalHandler(int signal) : signal_(signal) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = &ProgramHandler;
    sigemptyset(&action.sa_mask);
    EXPECT_EQ(sigaction(signal, &action, &previous_), 0);
  }
  ~ProgramSignalHandler() { sigaction(signal_, &previous_, nullptr); }
  bool StillInstalled() const {
    struct sigaction now;
    sigaction(signal_, nullptr, &now);
    return (now.sa_flags & SA_SIGINFO) == 0 &&
           now.sa_handler == &ProgramHandler;
  }

 private:
  int signal_;
  struct sigaction previous_;
};

bool IsDefault(int signal) {
  struct sigaction now;
  sigaction(signal, nullptr, &now);
  return (now.sa_flags & SA_SIGINFO) == 0 && now.sa_handler == SIG_DFL;
}

// Captures `parked` with StackCaptureOptions::signal = `signal`.
absl::StatusOr<std::vector<ThreadStack>> CaptureWithSignal(
    const ParkedThread& parked, int signal) {
  const pid_t tid = parked.tid();
  StackCaptureOptions options;
  options.signal = signal;
  return CaptureThreadStacks({&tid, 1}, options);
}

TEST(StackCaptureTest, NeverReplacesProgramHandlerOnConfiguredSignal) {
  const int taken = SIGRTMIN + 2;
  ASSERT_TRUE(IsDefault(taken)) << "the test needs a free signal";
  ProgramSignalHandler handler(taken);
  ParkedThread parked(ParkedThread::kConditionWait);
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureWithSignal(parked, taken);
  EXPECT_EQ(stacks.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(stacks.status().message(),
              HasSubstr(absl::StrCat("signal ", taken,
                                     " already has a handler installed")));
  EXPECT_TRUE(handler.StillInstalled());

  // Automatic choice steps around it.
  stacks = CaptureWithSignal(parked, 0);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  Answered((*stacks)[0]);
  EXPECT_NE(ActiveStackCaptureSignal(), taken);
  EXPECT_TRUE(handler.StillInstalled());
}

TEST(StackCaptureTest, RefusesIgnoredSignal) {
  const int ignored = SIGRTMIN + 3;
  ASSERT_TRUE(IsDefault(ignored)) << "the test needs a free signal";
  signal(ignored, SIG_IGN);
  ParkedThread parked(ParkedThread::kConditionWait);
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureWithSignal(parked, ignored);
  EXPECT_EQ(stacks.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(stacks.status().message(), HasSubstr("ignored"));
  struct sigaction now;
  sigaction(ignored, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_IGN);
  signal(ignored, SIG_DFL);
}

TEST(StackCaptureTest, UsesConfiguredFreeSignal) {
  const int chosen = SIGRTMIN + 4;
  ASSERT_TRUE(IsDefault(chosen)) << "the test needs a free signal";
  ParkedThread parked(ParkedThread::kSleep);
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureWithSignal(parked, chosen);
  ASSERT_TRUE(stacks.ok()) << stacks.status();
  Answered((*stacks)[0]);
  EXPECT_GE(FramesIn((*stacks)[0].pcs, parked.function()), 1);
  EXPECT_EQ(ActiveStackCaptureSignal(), chosen);
  EXPECT_FALSE(IsDefault(chosen));
}

TEST(StackCaptureTest, RejectsInvalidOptions) {
  const pid_t self = StackCaptureTestTid();
  StackCaptureOptions options;
  options.max_frames = 0;
  EXPECT_EQ(CaptureThreadStacks({&self, 1}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = StackCaptureOptions();
  options.signal = SIGKILL;
  EXPECT_EQ(CaptureThreadStacks({&self, 1}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.signal = SIGRTMAX + 1;
  EXPECT_EQ(CaptureThreadStacks({&self, 1}, options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.signal = 0;
  EXPECT_TRUE(CaptureThreadStacks({&self, 1}, options).ok());
}

// Handlers of the program's own on every real-time signal but `except`
// (0: on all of them).
using ProgramHandlers = std::vector<std::unique_ptr<ProgramSignalHandler>>;
ProgramHandlers HandleRealTimeSignalsExcept(int except) {
  ProgramHandlers handlers;
  for (int signal = SIGRTMIN; signal <= SIGRTMAX; ++signal) {
    if (signal == except) continue;
    handlers.push_back(std::make_unique<ProgramSignalHandler>(signal));
  }
  return handlers;
}

bool AllStillInstalled(const ProgramHandlers& handlers) {
  bool ok = true;
  for (const auto& handler : handlers) ok = ok && handler->StillInstalled();
  return ok;
}

// Ends the (death test's) process: 0 if `ok`, after printing `message`.
[[noreturn]] void ExitWith(bool ok, const std::string& message) {
  fprintf(stderr, "%s\n", message.c_str());
  fflush(stderr);
  _exit(ok ? 0 : 1);
}

// Runs in a fresh process (threadsafe death tests re-execute the binary), so
// no signal has been chosen yet.
void AutoPickSkipsProgramHandlers() {
  const int free_signal = SIGRTMIN + 1;
  const ProgramHandlers handlers = HandleRealTimeSignalsExcept(free_signal);
  ParkedThread parked(ParkedThread::kConditionWait);
  const pid_t tid = parked.tid();
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks({&tid, 1});
  const bool ok = stacks.ok() && (*stacks)[0].available &&
                  ActiveStackCaptureSignal() == free_signal &&
                  AllStillInstalled(handlers);
  ExitWith(ok, ok ? "picked the free signal" : "wrong pick");
}

void FailsWithoutFreeSignal() {
  const ProgramHandlers handlers = HandleRealTimeSignalsExcept(0);
  absl::StatusOr<std::vector<ThreadStack>> stacks = CaptureAllThreadStacks();
  const bool ok =
      stacks.status().code() == absl::StatusCode::kResourceExhausted &&
      ActiveStackCaptureSignal() == 0 && AllStillInstalled(handlers);
  ExitWith(ok, std::string(stacks.status().message()));
}

TEST(StackCaptureDeathTest, AutoPickSkipsSignalsWithProgramHandlers) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(AutoPickSkipsProgramHandlers(), testing::ExitedWithCode(0),
              "picked the free signal");
}

TEST(StackCaptureDeathTest, FailsWhenEveryRealTimeSignalIsTaken) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(FailsWithoutFreeSignal(), testing::ExitedWithCode(0),
              "no free real-time signal");
}

}  // namespace
}  // namespace taskleak
