#include "taskleak/sanitizers/race_reports.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/sanitizers/internal/sanitizer_hooks.h"
#include "taskleak/sanitizers/internal/tsan_report.h"

namespace taskleak {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

#ifdef ABSL_HAVE_THREAD_SANITIZER
constexpr bool kTsan = true;
#else
constexpr bool kTsan = false;
#endif

// Functions whose addresses stand for the frames of a recorded report.
// Different bodies, so that no identical-code folding merges them.
volatile int sink = 0;
__attribute__((noinline)) void WritesTheCounter() { sink = 1; }
__attribute__((noinline)) void ReadsTheCounter() { sink = 2; }
__attribute__((noinline)) void StartsTheWorker() { sink = 3; }

// What TSan hands out: return addresses, one past the call.
uintptr_t ReturnAddressIn(void (*function)()) {
  return reinterpret_cast<uintptr_t>(function) + 1;
}

void SetStack(internal::TsanRawStack* stack,
              std::initializer_list<uintptr_t> pcs) {
  stack->size = 0;
  for (uintptr_t pc : pcs) stack->pcs[stack->size++] = pc;
}

// A data race as __tsan_on_report copies it: thread T1 ("worker") wrote
// what the main thread read, in a heap block the main thread allocated.
internal::TsanRawReport RecordedDataRace() {
  internal::TsanRawReport raw;
  strcpy(raw.description, "data-race");  // NOLINT
  raw.access_count = 2;
  raw.accesses[0].tid = 1;
  raw.accesses[0].address = 0x7b0400000010;
  raw.accesses[0].size = 4;
  raw.accesses[0].write = true;
  SetStack(&raw.accesses[0].stack, {ReturnAddressIn(&WritesTheCounter)});
  raw.accesses[1].tid = 0;
  raw.accesses[1].address = 0x7b0400000010;
  raw.accesses[1].size = 4;
  SetStack(&raw.accesses[1].stack, {ReturnAddressIn(&ReadsTheCounter)});
  raw.thread_count = 1;
  raw.threads[0].tid = 1;
  raw.threads[0].os_tid = 4242;
  raw.threads[0].parent_tid = 0;
  strcpy(raw.threads[0].name, "worker");  // NOLINT
  // Created through pthread_create, which the report leaves out.
  SetStack(&raw.threads[0].created_at,
           {reinterpret_cast<uintptr_t>(&pthread_create) + 1,
            ReturnAddressIn(&StartsTheWorker)});
  raw.location_count = 1;
  strcpy(raw.location.type, "heap");  // NOLINT
  raw.location.heap_start = 0x7b0400000010;
  raw.location.size = 4;
  raw.location.tid = 0;
  return raw;
}

TEST(RaceReportsTest, RecordedDataRaceNamesBothAccessesAndTheWorker) {
  const RaceReport report = internal::RaceReportFromTsan(RecordedDataRace());
  EXPECT_EQ(report.kind, "data race");
  EXPECT_EQ(report.Summary(),
            "write of 4 bytes at 0x7b0400000010 by thread T1 (worker) / "
            "previous read by main thread");
  ASSERT_EQ(report.accesses.size(), 2u);
  ASSERT_FALSE(report.accesses[0].stack.empty());
  EXPECT_THAT(report.accesses[0].stack[0].function,
              HasSubstr("WritesTheCounter"));
  ASSERT_EQ(report.threads.size(), 1u);
  // The creation stack starts at the caller of pthread_create.
  ASSERT_FALSE(report.threads[0].created_at.empty());
  EXPECT_THAT(report.threads[0].created_at[0].function,
              HasSubstr("StartsTheWorker"));
  const std::string text = report.Text(/*max_frames=*/16);
  EXPECT_THAT(text,
              AllOf(StartsWith(report.Summary() + "\n"),
                    HasSubstr("  write of 4 bytes at 0x7b0400000010 by thread "
                              "T1 (worker):\n    "),
                    HasSubstr("ReadsTheCounter"),
                    HasSubstr("  location: heap block of 4 bytes at "
                              "0x7b0400000010 allocated by main thread\n"),
                    HasSubstr("  thread T1 (worker) (tid 4242, finished) "
                              "created by main thread at:\n    "),
                    Not(HasSubstr("pthread_create"))))
      << text;
}

TEST(RaceReportsTest, RecordedReportWithoutAccessesNamesItsThreads) {
  internal::TsanRawReport raw = RecordedDataRace();
  strcpy(raw.description, "lock-order-inversion");  // NOLINT
  raw.access_count = 0;
  raw.location_count = 0;
  const RaceReport report = internal::RaceReportFromTsan(raw);
  EXPECT_EQ(report.Summary(),
            "lock order inversion involving thread T1 (worker)");
}

TEST(RaceReportsTest, StackOfOnlyThreadCreationFramesIsEmptyAndSaysSo) {
  internal::TsanRawReport raw = RecordedDataRace();
  SetStack(&raw.threads[0].created_at,
           {reinterpret_cast<uintptr_t>(&pthread_create) + 1});
  const RaceReport report = internal::RaceReportFromTsan(raw);
  EXPECT_TRUE(report.threads[0].created_at.empty());
  EXPECT_THAT(report.Text(16), HasSubstr("created by main thread at:\n"
                                         "    (no stack)\n"));
}

TEST(RaceReportsTest, LongStacksAreCutAndCounted) {
  internal::TsanRawReport raw = RecordedDataRace();
  SetStack(&raw.accesses[0].stack, {ReturnAddressIn(&WritesTheCounter),
                                    ReturnAddressIn(&ReadsTheCounter),
                                    ReturnAddressIn(&StartsTheWorker)});
  const RaceReport report = internal::RaceReportFromTsan(raw);
  EXPECT_THAT(report.Text(/*max_frames=*/1),
              HasSubstr("T1 (worker):\n    taskleak::(anonymous "
                        "namespace)::WritesTheCounter() at "
                        "sanitizers/race_reports_test.cc:"));
  EXPECT_THAT(report.Text(/*max_frames=*/1),
              HasSubstr("\n    ... 2 more frames\n"));
  EXPECT_THAT(report.Text(/*max_frames=*/3), Not(HasSubstr("more frames")));
}

TEST(RaceReportsTest, AvailableExactlyInThreadSanitizerBuilds) {
  const absl::Status status = RaceDetectionStatus();
  EXPECT_EQ(RaceDetectionAvailable(), status.ok());
  if (kTsan) {
    EXPECT_TRUE(status.ok()) << status;
  } else {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(status.message()),
                HasSubstr("not built with ThreadSanitizer"));
    EXPECT_TRUE(TakeRaceReports().reports.empty());
  }
}

int counter = 0;

__attribute__((noinline)) void BumpTheCounter(std::mutex* mu) {
  if (mu != nullptr) {
    std::lock_guard<std::mutex> lock(*mu);
    ++counter;
  } else {
    ++counter;
  }
}

void BumpFromTwoThreads(std::mutex* mu) {
  std::thread bumper([mu] { BumpTheCounter(mu); });
  BumpTheCounter(mu);
  bumper.join();
}

// TSan ends a process that reported anything with status 66: the race runs
// in a child, which prints what was taken and leaves without TSan's exit.
TEST(RaceReportsDeathTest, RealRaceIsTakenWithTheRacingFunction) {
  if (!kTsan) {
    GTEST_SKIP() << "a real race is seen only by ThreadSanitizer: bazel test "
                    "--config=tsan //sanitizers:race_reports_test";
  }
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        TakeRaceReports();
        BumpFromTwoThreads(nullptr);
        const RaceReports taken = TakeRaceReports();
        for (const RaceReport& race : taken.reports) {
          fprintf(stderr, "taken: %s\n%s", race.kind.c_str(),
                  race.Text(16).c_str());
        }
        fflush(stderr);
        // Not _exit: TSan intercepts it to apply its own status.
        syscall(SYS_exit_group, taken.reports.size() == 1 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0),
      "taken: data race\n[^\n]*\n[^\n]*:\n    [^\n]*BumpTheCounter\\(std::"
      "mutex\\*\\) at sanitizers/race_reports_test.cc:");
}

TEST(RaceReportsTest, LockedCounterIsQuiet) {
  if (!kTsan) {
    GTEST_SKIP() << "only ThreadSanitizer can tell: bazel test --config=tsan "
                    "//sanitizers:race_reports_test";
  }
  TakeRaceReports();
  std::mutex mu;
  BumpFromTwoThreads(&mu);
  const RaceReports taken = TakeRaceReports();
  EXPECT_TRUE(taken.reports.empty()) << taken.reports[0].Text(16);
  EXPECT_EQ(taken.dropped, 0);
}

}  // namespace
}  // namespace taskleak
