// Tests that hang, finish, die or signal themselves on purpose.
// testing/internal/watchdog_test.cc runs this binary with one filter at a
// time and checks what it prints, writes and how it ends.

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "taskleak/testing/this_test.h"

namespace {

// Never notified, never destroyed: a hung test stays hung until the end.
absl::Notification& Never() {
  static auto* never = new absl::Notification;
  return *never;
}

__attribute__((noinline)) void WaitForever() {
  Never().WaitForNotification();  // HANG-LINE
}

// With HANG_SUITE_OWN_SIGTERM_HANDLER set, the program handles SIGTERM
// itself, before taskleak's listener is installed.
const bool own_sigterm_handler = [] {
  if (getenv("HANG_SUITE_OWN_SIGTERM_HANDLER") == nullptr) return false;
  struct sigaction action = {};
  action.sa_handler = [](int) {
    const char message[] = "the program's SIGTERM handler ran\n";
    write(STDERR_FILENO, message, sizeof(message) - 1);
    _exit(3);
  };
  sigaction(SIGTERM, &action, nullptr);
  return true;
}();

TEST(HangTest, Finishes) { EXPECT_EQ(1 + 1, 2); }

TEST(HangTest, BlocksForever) {
  printf("BlocksForever is about to wait\n");
  WaitForever();
}

// Runs after BlocksForever when both are selected.
TEST(HangTest, NeverRuns) {}

TEST(HangTest, ShortLimitOfItsOwn) {
  taskleak::ThisTest::SetTimeout(absl::Milliseconds(300));
  WaitForever();
}

// Run with a suite-wide limit shorter than what it needs.
TEST(HangTest, LongerLimitOfItsOwn) {
  taskleak::ThisTest::SetTimeout(absl::Seconds(60));
  absl::SleepFor(absl::Milliseconds(1500));
}

TEST(HangDeathTest, DiesWithoutWarning) {
  EXPECT_DEATH(abort(), "");
  EXPECT_EXIT(_exit(4), ::testing::ExitedWithCode(4), "");
}

// The control: a thread of the test's own makes GoogleTest warn.
TEST(HangDeathTest, WarnsWithAThreadAlive) {
  absl::Notification done;
  std::thread helper([&done] { done.WaitForNotification(); });
  EXPECT_DEATH(abort(), "");
  done.Notify();
  helper.join();
}

TEST(SignalTest, QuitPrintsAndGoesOn) {
  raise(SIGQUIT);
  fprintf(stderr, "still running after SIGQUIT\n");
}

TEST(SignalTest, TermPrintsAndDies) {
  printf("TermPrintsAndDies is about to get SIGTERM\n");
  raise(SIGTERM);
  fprintf(stderr, "still running after SIGTERM\n");
  WaitForever();
}

// Whether the main thread stays asleep for 30 ms: the leak check's pause
// between polls (a futex wait woken by ending threads, or clock_nanosleep
// when origins are not recorded), once it has judged the new threads.
bool MainThreadPausesLong() {
  const std::string path =
      "/proc/self/task/" + std::to_string(getpid()) + "/syscall";
  for (int i = 0; i < 30; ++i) {
    std::ifstream syscall(path);
    long number = -1;
    syscall >> number;
    if (number != SYS_clock_nanosleep && number != SYS_futex) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

// Leaves a thread that sends SIGTERM while the test's leak check waits for
// it (where a test runner's time limit most likely lands).
TEST(SignalTest, TermDuringTheLeakCheck) {
  taskleak::ThisTest::AllowLingering(absl::Seconds(60));
  std::thread([] {
    while (!MainThreadPausesLong()) absl::SleepFor(absl::Milliseconds(5));
    kill(getpid(), SIGTERM);
    // Not WaitForever: its first use on a thread takes a lock of Abseil's
    // that the dump, if made on this thread, would then need.
    for (;;) pause();
  }).detach();
}

}  // namespace
