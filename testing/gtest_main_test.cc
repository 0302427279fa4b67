// Runs testing/testdata/list_probe_suite, built once with taskleak's main and
// once with GoogleTest's, and checks that test discovery (--gtest_list_tests,
// as CMake's gtest_discover_tests runs it at build time) sees no difference:
// the same list, exit status 0, and no thread, timer or signal handler of
// ours in the process.

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/testing/testutil/subprocess.h"

namespace taskleak {
namespace {

using ::testing::HasSubstr;

constexpr char kSuite[] = "testing/testdata/list_probe_suite";
constexpr char kPlainSuite[] = "testing/testdata/list_probe_suite_plain";

internal::ProcessResult RunSuite(const std::string& suite,
                                 std::vector<std::string> args) {
  args.insert(args.begin(), suite);
  absl::StatusOr<internal::ProcessResult> result = internal::RunProcess(args);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : internal::ProcessResult{};
}

// GoogleTest's gtest_main (and gmock's) starts with "Running main() from
// FILE".
std::string WithoutMainsGreeting(const std::string& output) {
  if (!absl::StartsWith(output, "Running main() from ")) return output;
  const size_t end = output.find('\n');
  return end == std::string::npos ? "" : output.substr(end + 1);
}

TEST(GtestMainTest, ListTestsPrintsOnlyGoogleTestsList) {
  const internal::ProcessResult ours = RunSuite(kSuite, {"--gtest_list_tests"});
  const internal::ProcessResult plain =
      RunSuite(kPlainSuite, {"--gtest_list_tests"});
  EXPECT_EQ(ours.exit_code, 0) << ours.output;
  EXPECT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_THAT(ours.output, HasSubstr("ProbeTest.\n  Passes\n"));
  // Identical output includes the probe line: the same threads, timers and
  // caught signals as with GoogleTest's own main (less the line where that
  // main says its name).
  EXPECT_EQ(ours.output, WithoutMainsGreeting(plain.output));
}

TEST(GtestMainTest, ListTestsStillRejectsBadFlags) {
  const internal::ProcessResult r =
      RunSuite(kSuite, {"--gtest_list_tests", "--taskleak_nonsense=1"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("taskleak_nonsense")) << r.output;
}

// The twin that shows the probe can tell: a real run installs taskleak's
// signal handlers, which the plain main does not.
TEST(GtestMainTest, ProbeSeesTaskleakInARealRun) {
  const internal::ProcessResult ours = RunSuite(kSuite, {});
  const internal::ProcessResult plain = RunSuite(kPlainSuite, {});
  EXPECT_EQ(ours.exit_code, 0) << ours.output;
  EXPECT_EQ(plain.exit_code, 0) << plain.output;
  auto probe_line = [](const std::string& output) {
    const size_t at = output.rfind("probe: ");
    return at == std::string::npos ? std::string() : output.substr(at);
  };
  ASSERT_NE(probe_line(plain.output), "") << plain.output;
  EXPECT_NE(probe_line(ours.output), probe_line(plain.output))
      << ours.output << "\n"
      << plain.output;
}

}  // namespace
}  // namespace taskleak
