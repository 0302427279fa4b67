#include "taskleak/runtime/internal/library_code.h"

#include "gtest/gtest.h"
#include "taskleak/runtime/internal/loaded_modules.h"

namespace taskleak {
namespace internal {
namespace {

TEST(LibraryCodeTest, SystemLibraryDirectoriesAndTheVdsoAreSystemModules) {
  EXPECT_TRUE(IsSystemModule("/lib/x86_64-linux-gnu/libc.so.6"));
  EXPECT_TRUE(IsSystemModule("/usr/lib/x86_64-linux-gnu/libstdc++.so.6"));
  EXPECT_TRUE(IsSystemModule("/usr/lib64/libfoo.so"));
  EXPECT_TRUE(IsSystemModule("[vdso]"));
  // Programs and the project's own libraries, wherever they were built.
  EXPECT_FALSE(IsSystemModule("/usr/src/project/build/pool_test"));
  EXPECT_FALSE(IsSystemModule("/usr/local/lib/libmine.so"));
  EXPECT_FALSE(IsSystemModule("/home/me/bazel-bin/pkg/_solib_k8/libpkg.so"));
  EXPECT_FALSE(IsSystemModule(""));
}

TEST(LibraryCodeTest, TheRunningProgramIsNeverASystemModule) {
  ASSERT_FALSE(ExecutablePath().empty());
  EXPECT_FALSE(IsSystemModule(ExecutablePath()));
}

TEST(LibraryCodeTest, RelativeSourcesAreTheProgramsUnlessInASystemModule) {
  EXPECT_TRUE(IsLibrarySource("/usr/include/c++/12/bits/std_mutex.h",
                              "/home/me/bazel-bin/pkg/test"));
  EXPECT_TRUE(IsLibrarySource(
      "external/com_google_googletest/googletest/src/gtest.cc", "/x/test"));
  EXPECT_TRUE(IsLibrarySource("./nptl/pthread_create.c",
                              "/lib/x86_64-linux-gnu/libc.so.6"));
  EXPECT_TRUE(IsLibrarySource("../sysdeps/nptl/futex-internal.h", ""));
  EXPECT_FALSE(IsLibrarySource("./pkg/header.h", "/home/me/bazel-bin/pkg/t"));
  EXPECT_FALSE(IsLibrarySource("pkg/pool.cc", "/home/me/bazel-bin/pkg/t"));
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
