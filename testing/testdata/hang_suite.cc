// Tests that hang, finish, die or signal themselves on purpose.
// testing/internal/watchdog_test.cc runs this binary with one filter at a
// time and checks what it prints, writes and how it ends.

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "taskleak/testing/this_test.h"

namespace {

// Never notified, never destroyed: a hung test stays hung until the end.
// std primitives, not Abseil's: ThreadSanitizer sees through them (Debian's
// Abseil is not instrumented), and delivers the dump's signal to a thread
// blocked in them.
struct Never {
  std::mutex mu;
  std::condition_variable cv;
};

__attribute__((noinline)) void WaitForever() {
  static auto* never = new Never;
  std::unique_lock<std::mutex> lock(never->mu);
  never->cv.wait(lock, [] { return false; });  // HANG-LINE
}

// Reads a pipe nobody writes to: a thread ThreadSanitizer never lets a
// signal handler run on.
__attribute__((noinline)) void ReadForever(int fd) {
  char byte;
  while (read(fd, &byte, 1) != 0) {  // READ-LINE
  }
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

// The test thread in a condition wait, a thread of its own in read().
TEST(HangTest, WaitsWhileItsThreadReads) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::thread([fd = fds[0]] {
    pthread_setname_np(pthread_self(), "reader");
    ReadForever(fd);
  }).detach();
  WaitForever();
}

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
    // Holding no lock: the dump may be made on this thread.
    for (;;) pause();
  }).detach();
}

}  // namespace
