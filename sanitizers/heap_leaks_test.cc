#include "taskleak/sanitizers/heap_leaks.h"

#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/sanitizers/internal/lsan_report.h"

namespace taskleak {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

#if defined(ABSL_HAVE_ADDRESS_SANITIZER) || defined(ABSL_HAVE_LEAK_SANITIZER)
constexpr bool kLsan = true;
#else
constexpr bool kLsan = false;
#endif

// A function whose address stands for the allocating frame of a recorded
// report.
volatile int sink = 0;
__attribute__((noinline)) void MakesTheList() { sink = 1; }

uintptr_t AddressOf(void (*function)()) {
  return reinterpret_cast<uintptr_t>(function);
}
uintptr_t OperatorNew() {
  return reinterpret_cast<uintptr_t>(
      static_cast<void* (*)(size_t)>(&::operator new));
}
// A standard library frame between the allocator and the user's code.
uintptr_t MakeUnique() {
  return reinterpret_cast<uintptr_t>(
      static_cast<std::unique_ptr<int> (*)(int&&)>(
          &std::make_unique<int, int>));
}

// What LeakSanitizer writes with report_objects=1 (gcc 12's runtime), with
// the addresses of this program's functions; another sanitizer's warning
// comes first.
std::string RecordedReport() {
  return absl::StrFormat(
      "==7==WARNING: AddressSanitizer failed to allocate 0x1000 bytes\n"
      "=================================================================\n"
      "==7==ERROR: LeakSanitizer: detected memory leaks\n"
      "\n"
      "Direct leak of 16 byte(s) in 1 object(s) allocated from:\n"
      "    #0 0x%x in operator new(unsigned long) "
      "../../../../src/libsanitizer/asan/asan_new_delete.cpp:99\n"
      "    #1 0x%x in MakesTheList sanitizers/heap_leaks_test.cc:30\n"
      "\n"
      "Objects leaked above:\n"
      "0x602000000010 (16 bytes)\n"
      "\n"
      "Indirect leak of 32 byte(s) in 2 object(s) allocated from:\n"
      "    #0 0x%x in operator new(unsigned long)\n"
      "    #1 0x%x (/home/u/test+0x1347)\n"
      "\n"
      "Objects leaked above:\n"
      "0x602000000030 (16 bytes)\n"
      "0x602000000050 (16 bytes)\n"
      "\n"
      "SUMMARY: AddressSanitizer: 48 byte(s) leaked in 3 allocation(s).\n"
      "==7==WARNING: something else\n",
      OperatorNew(), AddressOf(&MakesTheList), OperatorNew(),
      AddressOf(&MakesTheList));
}

TEST(HeapLeaksTest, LeakReportIsSplitFromOtherSanitizerOutput) {
  std::string leak_report, other;
  internal::SplitLeakReport(RecordedReport(), &leak_report, &other);
  EXPECT_THAT(
      leak_report,
      AllOf(testing::StartsWith("====="), HasSubstr("ERROR: LeakSanitizer"),
            testing::EndsWith("leaked in 3 allocation(s).\n")));
  EXPECT_EQ(other,
            "==7==WARNING: AddressSanitizer failed to allocate 0x1000 bytes\n"
            "==7==WARNING: something else\n");
}

TEST(HeapLeaksTest, OutputWithoutALeakReportIsLeftAlone) {
  const std::string text =
      "==7==WARNING: AddressSanitizer failed to allocate 0x1000 bytes\n"
      "=================================================================\n"
      "==7==WARNING: something else\n";
  std::string leak_report, other;
  internal::SplitLeakReport(text, &leak_report, &other);
  EXPECT_THAT(leak_report, IsEmpty());
  EXPECT_EQ(other, text);
  EXPECT_THAT(internal::ParseLeakReport(text), IsEmpty());
}

TEST(HeapLeaksTest, RecordedReportParsesIntoLeaksWithBlocksAndFrames) {
  const std::vector<internal::ParsedLeak> leaks =
      internal::ParseLeakReport(RecordedReport());
  ASSERT_EQ(leaks.size(), 2u);
  EXPECT_TRUE(leaks[0].leak.direct);
  EXPECT_EQ(leaks[0].leak.bytes, 16u);
  EXPECT_EQ(leaks[0].leak.blocks, 1);
  EXPECT_THAT(leaks[0].leak.addresses, ElementsAre(0x602000000010));
  EXPECT_THAT(leaks[0].pcs,
              ElementsAre(OperatorNew(), AddressOf(&MakesTheList)));
  EXPECT_THAT(leaks[0].leak.raw_frames[1],
              HasSubstr("MakesTheList sanitizers/heap_leaks_test.cc:30"));
  EXPECT_FALSE(leaks[1].leak.direct);
  EXPECT_EQ(leaks[1].leak.bytes, 32u);
  EXPECT_EQ(leaks[1].leak.blocks, 2);
  EXPECT_THAT(leaks[1].leak.addresses,
              ElementsAre(0x602000000030, 0x602000000050));
}

// The blame goes to the user's function, past the allocator and past the
// standard library's templates around it.
TEST(HeapLeaksTest, AllocationIsBlamedOnTheFirstUserFrame) {
  HeapLeak leak;
  leak.bytes = 16;
  leak.blocks = 1;
  leak.allocated_at = internal::SymbolizeAllocationStack(
      {OperatorNew(), MakeUnique(), AddressOf(&MakesTheList)});
  ASSERT_EQ(leak.allocated_at.size(), 2u);
  EXPECT_THAT(leak.allocated_at[0].function, HasSubstr("std::make_unique"));
  EXPECT_THAT(leak.AllocationSite(),
              HasSubstr("(anonymous namespace)::MakesTheList() at "
                        "sanitizers/heap_leaks_test.cc:"));
  HeapLeakReport report;
  report.leaks.push_back(leak);
  EXPECT_THAT(report.Summary(),
              HasSubstr("16 bytes in 1 block (1 direct, 0 indirect) allocated "
                        "in taskleak::(anonymous namespace)::MakesTheList()"));
  EXPECT_THAT(report.Text(16),
              AllOf(HasSubstr("  direct leak of 16 bytes in 1 block, "
                              "allocated at:\n    "),
                    HasSubstr("MakesTheList")));
}

TEST(HeapLeaksTest, AllocatorFramesAloneAreKeptButAreNoSite) {
  HeapLeak leak;
  leak.allocated_at = internal::SymbolizeAllocationStack({OperatorNew()});
  ASSERT_EQ(leak.allocated_at.size(), 1u);
  EXPECT_THAT(leak.AllocationSite(), IsEmpty());
  HeapLeakReport report;
  report.leaks.push_back(leak);
  EXPECT_THAT(report.Summary(), Not(HasSubstr("allocated in")));
}

TEST(HeapLeaksTest, RawFramesPastTheLimitAreCounted) {
  HeapLeak leak;
  leak.raw_frames = {"a", "b", "c"};
  HeapLeakReport report;
  report.leaks.push_back(leak);
  EXPECT_THAT(report.Text(/*max_frames=*/1),
              HasSubstr("allocated at:\n    a\n    ... 2 more frames\n"));
  EXPECT_THAT(report.Text(/*max_frames=*/3), Not(HasSubstr("more frames")));
}

TEST(HeapLeaksTest, AvailableExactlyInLeakSanitizerBuilds) {
  const absl::Status status = HeapLeakCheckStatus();
  EXPECT_EQ(HeapLeakCheckAvailable(), status.ok());
  if (kLsan) {
    EXPECT_TRUE(status.ok()) << status;
  } else {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(status.message()),
                HasSubstr("not built with LeakSanitizer"));
    EXPECT_EQ(FindNewHeapLeaks().status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
}

int* volatile kept = nullptr;

__attribute__((noinline)) void LoseSixteenBytes() {
  kept = new int[4];
  kept = nullptr;
}

__attribute__((noinline)) void FreeSixteenBytes() {
  kept = new int[4];
  delete[] kept;
  kept = nullptr;
}

TEST(HeapLeaksTest, RealLeakIsFoundOnceAndBlamedOnItsFunction) {
  if (!HeapLeakCheckAvailable()) {
    GTEST_SKIP() << "a real leak is seen only by LeakSanitizer: bazel test "
                    "--config=asan //sanitizers:heap_leaks_test ("
                 << HeapLeakCheckStatus().message() << ")";
  }
  ASSERT_TRUE(FindNewHeapLeaks().ok());  // absorb what came before
  LoseSixteenBytes();
  absl::StatusOr<HeapLeakReport> report = FindNewHeapLeaks();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->bytes(), 16u) << report->Text(16);
  EXPECT_THAT(report->Summary(), HasSubstr("allocated in taskleak::(anonymous "
                                           "namespace)::LoseSixteenBytes() at "
                                           "sanitizers/heap_leaks_test.cc:"));
  // Reported once: the next check does not charge it again.
  absl::StatusOr<HeapLeakReport> again = FindNewHeapLeaks();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->clean()) << again->Text(16);
}

TEST(HeapLeaksTest, FreedMemoryIsQuiet) {
  if (!HeapLeakCheckAvailable()) {
    GTEST_SKIP() << "only LeakSanitizer can tell: bazel test --config=asan "
                    "//sanitizers:heap_leaks_test ("
                 << HeapLeakCheckStatus().message() << ")";
  }
  ASSERT_TRUE(FindNewHeapLeaks().ok());
  FreeSixteenBytes();
  absl::StatusOr<HeapLeakReport> report = FindNewHeapLeaks();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->clean()) << report->Text(16);
}

}  // namespace
}  // namespace taskleak
