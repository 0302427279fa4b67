#include "taskleak/testing/internal/report_files.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace internal {
namespace {

TEST(ReportFilesTest, RepoRelativePathDropsBazelPrefixes) {
  EXPECT_EQ(RepoRelativePath("/root/.cache/bazel/_bazel_root/abc/execroot/"
                             "taskleak/examples/pool.cc"),
            "examples/pool.cc");
  EXPECT_EQ(RepoRelativePath("/proc/self/cwd/examples/pool.cc"),
            "examples/pool.cc");
  EXPECT_EQ(RepoRelativePath("./examples/pool.cc"), "examples/pool.cc");
  EXPECT_EQ(RepoRelativePath("/usr/include/x.h"), "/usr/include/x.h");
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
