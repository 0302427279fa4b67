#include "testing/internal/report_files.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace internal {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

SymbolizedFrame Frame(std::string function, std::string file, int line) {
  SymbolizedFrame f;
  f.function = std::move(function);
  f.file = std::move(file);
  f.line = line;
  return f;
}

LeakReport ReportWithCreation(std::vector<SymbolizedFrame> creation) {
  LeakReport report;
  report.scope = "PoolTest.Shutdown";
  report.grace = absl::Seconds(1);
  ThreadDump t;
  t.info.name = "worker-0";
  t.created_by.push_back(ThreadCreator{1, "main", {}, std::move(creation)});
  report.threads = {t, t};
  return report;
}

TEST(ReportFilesTest, AnnotationSkipsLibraryFramesAndEscapes) {
  LeakReport report = ReportWithCreation(
      {Frame("std::thread::_M_start_thread()", "", 0),
       Frame("std::thread::thread<>()", "/usr/include/c++/12/thread", 80),
       Frame("taskleak::Something()", "runtime/x.cc", 3),
       Frame("Pool::Pool(int)", "/proc/self/cwd/src/pool,v2.cc", 20),
       Frame("main", "src/main.cc", 5)});
  EXPECT_THAT(GithubAnnotations(report),
              ElementsAre("::error file=src/pool%2Cv2.cc,line=20::thread "
                          "\"worker-0\" started here is still running after "
                          "1s (PoolTest.Shutdown)"));
}

TEST(ReportFilesTest, NoUserFrameMeansNoAnnotation) {
  LeakReport report =
      ReportWithCreation({Frame("std::thread::thread<>()", "", 0)});
  EXPECT_THAT(GithubAnnotations(report), IsEmpty());
}

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
