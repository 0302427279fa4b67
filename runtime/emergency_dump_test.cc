// Each test prepares emergency dumps inside a death-test child: the state is
// process-wide and set once, and a dump may end the process.

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/dump.h"
#include "taskleak/runtime/signal_dump.h"

// Defined by ThreadSanitizer's runtime, under which dumps are refused.
extern "C" void __tsan_init() __attribute__((weak));

// Outside taskleak's namespaces, so that reports show these frames as the
// program's own rather than fold them away as taskleak's.
namespace {

// Never notified, never destroyed.
absl::Notification& Never() {
  static auto* never = new absl::Notification;
  return *never;
}

__attribute__((noinline)) void ParkedWorker(absl::Notification* parked) {
  parked->Notify();
  Never().WaitForNotification();
}

__attribute__((noinline)) void StartParkedWorker() {
  absl::Notification parked;
  std::thread(ParkedWorker, &parked).detach();
  parked.WaitForNotification();
}

__attribute__((noinline)) void HangHere() { Never().WaitForNotification(); }

}  // namespace

namespace taskleak {
namespace internal {
namespace {

using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

// What the reporter does, read in the forked child.
enum class ReporterMode { kPrint, kHang };
ReporterMode reporter_mode = ReporterMode::kPrint;

void Reporter(const EmergencyEvent& event, const ProcessDump& dump) {
  if (reporter_mode == ReporterMode::kHang) {
    for (;;) pause();
  }
  const std::string text = absl::StrCat(
      "REPORT trigger=", event.signo, " threads=", dump.threads.size(), "\n",
      FormatThreadsText(dump.threads, DumpOptions{}, dump.taken_at), "END\n");
  fwrite(text.data(), 1, text.size(), stderr);
  fflush(stderr);
}

void Prepare(absl::Duration budget = absl::Seconds(20)) {
  EmergencyDumpOptions options;
  options.reporter = &Reporter;
  options.budget = budget;
  options.timer_exit_code = 7;
  const absl::Status status = PrepareEmergencyDump(options);
  if (!status.ok()) {
    fprintf(stderr, "prepare failed: %s\n", status.ToString().c_str());
    _exit(100);
  }
}

class EmergencyDumpDeathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (&__tsan_init != nullptr) {
      GTEST_SKIP() << "emergency dumps are off under ThreadSanitizer";
    }
  }
};

TEST(EmergencyDumpTest, RefusedUnderThreadSanitizer) {
  if (&__tsan_init == nullptr) GTEST_SKIP() << "not a ThreadSanitizer build";
  EmergencyDumpOptions options;
  options.reporter = &Reporter;
  const absl::Status status = PrepareEmergencyDump(options);
  EXPECT_THAT(status.message(), HasSubstr("ThreadSanitizer runs a signal "
                                          "handler only once the thread"));
  EXPECT_EQ(EmergencySignal(), 0);
}

TEST_F(EmergencyDumpDeathTest,
       SignalDumpShowsEveryThreadAndItsCreatorThenGoesOn) {
  EXPECT_EXIT(
      {
        Prepare();
        StartParkedWorker();
        if (!DumpOnEmergencySignal(SIGUSR1, AfterDump::kContinue).ok()) {
          _exit(101);
        }
        raise(SIGUSR1);
        fprintf(stderr, "still running\n");
        _exit(0);
      },
      ::testing::ExitedWithCode(0),
      AllOf(HasSubstr("REPORT trigger=10 threads=2"), HasSubstr("ParkedWorker"),
            HasSubstr("created by thread"), HasSubstr("StartParkedWorker"),
            // The signalled thread's own stack, from the signal context.
            ContainsRegex("raise|kill"), HasSubstr("END\nstill running")));
}

// Sanitizers give every thread a small alternate signal stack; the report
// must not run on it.
TEST_F(EmergencyDumpDeathTest, ReportDoesNotRunOnASmallAlternateSignalStack) {
  EXPECT_EXIT(
      {
        Prepare();
        // 32 KiB with an inaccessible page below: an overflow faults.
        const size_t page = sysconf(_SC_PAGESIZE);
        char* memory = static_cast<char*>(
            mmap(nullptr, page + (32 << 10), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        mprotect(memory, page, PROT_NONE);
        stack_t alternate = {};
        alternate.ss_sp = memory + page;
        alternate.ss_size = 32 << 10;
        if (sigaltstack(&alternate, nullptr) != 0) _exit(102);
        if (!DumpOnEmergencySignal(SIGUSR1, AfterDump::kContinue).ok()) {
          _exit(101);
        }
        raise(SIGUSR1);
        _exit(0);
      },
      ::testing::ExitedWithCode(0),
      AllOf(HasSubstr("REPORT trigger=10 threads=1"), HasSubstr("END"),
            Not(HasSubstr("the full report was not written"))));
}

TEST_F(EmergencyDumpDeathTest, TimerDumpsTheHungThreadAndEndsTheProcess) {
  EXPECT_EXIT(
      {
        Prepare();
        if (!ArmEmergencyTimer(absl::Milliseconds(100)).ok()) _exit(101);
        HangHere();
      },
      ::testing::ExitedWithCode(7),
      AllOf(HasSubstr("REPORT trigger=0 threads=1"), HasSubstr("HangHere"),
            HasSubstr("END")));
}

TEST_F(EmergencyDumpDeathTest, DisarmedTimerNeverFires) {
  EXPECT_EXIT(
      {
        Prepare();
        if (!ArmEmergencyTimer(absl::Milliseconds(50)).ok()) _exit(101);
        DisarmEmergencyTimer();
        // Re-arming replaces the deadline.
        if (!ArmEmergencyTimer(absl::Milliseconds(50)).ok()) _exit(101);
        if (!ArmEmergencyTimer(absl::Seconds(60)).ok()) _exit(101);
        absl::SleepFor(absl::Milliseconds(300));
        DisarmEmergencyTimer();
        fprintf(stderr, "no dump\n");
        _exit(0);
      },
      ::testing::ExitedWithCode(0),
      AllOf(HasSubstr("no dump"), Not(HasSubstr("REPORT"))));
}

TEST_F(EmergencyDumpDeathTest, ReraisedSignalEndsTheProcessAfterTheDump) {
  EXPECT_EXIT(
      {
        Prepare();
        if (!DumpOnEmergencySignal(SIGTERM, AfterDump::kReraise).ok()) {
          _exit(101);
        }
        kill(getpid(), SIGTERM);
        HangHere();
      },
      ::testing::KilledBySignal(SIGTERM),
      AllOf(HasSubstr("REPORT trigger=15"), HasSubstr("END")));
}

TEST_F(EmergencyDumpDeathTest,
       ThreadBlockingTheSignalIsReportedWithoutWaiting) {
  EXPECT_EXIT(
      {
        Prepare();
        absl::Notification blocked;
        std::thread([&blocked] {
          sigset_t all;
          sigfillset(&all);
          pthread_sigmask(SIG_BLOCK, &all, nullptr);
          blocked.Notify();
          Never().WaitForNotification();
        }).detach();
        blocked.WaitForNotification();
        if (!DumpOnEmergencySignal(SIGUSR1, AfterDump::kContinue).ok()) {
          _exit(101);
        }
        raise(SIGUSR1);
        _exit(0);
      },
      ::testing::ExitedWithCode(0),
      // "signal blocked", read from /proc before any signal is sent, rather
      // than "no answer within 500ms": the thread was not waited for.
      AllOf(HasSubstr("stack unavailable: signal blocked (SigBlk in /proc/"),
            Not(HasSubstr("no answer within"))));
}

TEST_F(EmergencyDumpDeathTest, ChildThatNeverFinishesFallsBackToRawStacks) {
  EXPECT_EXIT(
      {
        Prepare(absl::Milliseconds(300));
        reporter_mode = ReporterMode::kHang;
        SetEmergencyFallback("Suite.Test", "", "");
        if (!DumpOnEmergencySignal(SIGUSR1, AfterDump::kContinue).ok()) {
          _exit(101);
        }
        raise(SIGUSR1);
        fprintf(stderr, "still running\n");
        _exit(0);
      },
      ::testing::ExitedWithCode(0),
      AllOf(HasSubstr("taskleak: SIGUSR1 while running Suite.Test: the full "
                      "report was not written (out of time)"),
            ContainsRegex("thread [0-9]+: 0x[0-9a-f]+ 0x"),
            HasSubstr("still running")));
}

TEST_F(EmergencyDumpDeathTest, FallbackFileIsWrittenWhenTheProcessDies) {
  const std::string path =
      absl::StrCat(testing::TempDir(), "/fallback-", getpid(), ".xml");
  EXPECT_EXIT(
      {
        Prepare(absl::Milliseconds(300));
        reporter_mode = ReporterMode::kHang;
        SetEmergencyFallback("Suite.Test", path, "<testsuites/>");
        if (!ArmEmergencyTimer(absl::Milliseconds(50)).ok()) _exit(101);
        HangHere();
      },
      ::testing::ExitedWithCode(7), HasSubstr("taskleak: wrote " + path));
  FILE* f = fopen(path.c_str(), "r");
  ASSERT_NE(f, nullptr);
  char buffer[64] = {};
  fread(buffer, 1, sizeof(buffer) - 1, f);
  fclose(f);
  EXPECT_STREQ(buffer, "<testsuites/>");
}

TEST_F(EmergencyDumpDeathTest, ProgramHandlerIsLeftInPlace) {
  EXPECT_EXIT(
      {
        Prepare();
        struct sigaction mine = {};
        mine.sa_handler = [](int) { write(2, "program handler\n", 16); };
        sigaction(SIGUSR2, &mine, nullptr);
        const absl::Status status =
            DumpOnEmergencySignal(SIGUSR2, AfterDump::kContinue);
        fprintf(stderr, "%s\n", status.ToString().c_str());
        raise(SIGUSR2);
        _exit(0);
      },
      ::testing::ExitedWithCode(0),
      AllOf(HasSubstr("FAILED_PRECONDITION: SIGUSR2 already has a handler"),
            HasSubstr("program handler"), Not(HasSubstr("REPORT"))));
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
