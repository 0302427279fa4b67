// Runs the deadlocking bank example under a test time limit and checks that
// the report names the hung test and shows both tellers stuck on the lock,
// with the lines of the bank and of the test that started them.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/testing/testutil/subprocess.h"
#include "taskleak/testing/testutil/test_files.h"

// Defined by ThreadSanitizer's runtime, under which test time limits are
// off.
extern "C" void __tsan_init() __attribute__((weak));

namespace {

using ::taskleak::internal::ProcessResult;
using ::taskleak::internal::SourceLine;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

int Count(const std::string& text, const std::string& part) {
  int n = 0;
  for (size_t at = text.find(part); at != std::string::npos;
       at = text.find(part, at + 1)) {
    ++n;
  }
  return n;
}

TEST(BankExampleTest, DeadlockIsReportedWhereEachTellerIsStuck) {
  if (&__tsan_init != nullptr) {
    GTEST_SKIP() << "test time limits are off under ThreadSanitizer";
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<ProcessResult> run = taskleak::internal::RunProcess(
      {"examples/bank_test", "--taskleak_test_timeout=2s"});
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(run.ok()) << run.status();
  const std::string& out = run->output;
  EXPECT_EQ(run->exit_code, 1) << out;
  EXPECT_GE(took, absl::Seconds(2));
  EXPECT_LT(took, absl::Seconds(20)) << out;

  const std::string lock = SourceLine("examples/bank.cc", "DEADLOCK-LINE");
  EXPECT_EQ(Count(out, absl::StrCat("examples::Bank::Transfer(examples::"
                                    "Account&, examples::Account&, long) at ",
                                    lock, "\n")),
            2)
      << out;
  EXPECT_THAT(
      out,
      AllOf(
          HasSubstr("taskleak: BankTest.TwoTellersTransferBothWays timed "
                    "out: still running after 2"),
          HasSubstr("(limit 2s, from --taskleak_test_timeout)"),
          HasSubstr("\"teller-1\" (sleeping"),
          HasSubstr("\"teller-2\" (sleeping"), HasSubstr("std::mutex::lock()"),
          // Where the tellers were started, and where the test waits.
          HasSubstr(SourceLine("examples/bank_test.cc", "std::thread first(")),
          HasSubstr(SourceLine("examples/bank_test.cc", "std::thread second(")),
          HasSubstr(SourceLine("examples/bank_test.cc", "JOIN-LINE")),
          HasSubstr("taskleak: ending the process with exit status 1"),
          // The process ended at the hang: the fixed twin never ran.
          Not(HasSubstr("[ RUN      ] SafeBankTest"))));
}

TEST(BankExampleTest, FixedTwinPassesWithinTheLimit) {
  absl::StatusOr<ProcessResult> run = taskleak::internal::RunProcess(
      {"examples/bank_test", "--taskleak_test_timeout=10s",
       "--gtest_filter=SafeBankTest.*"});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0) << run->output;
  EXPECT_THAT(run->output, AllOf(HasSubstr("[       OK ] SafeBankTest."),
                                 Not(HasSubstr("timed out"))));
}

}  // namespace
