#include "taskleak/runtime/frame_format.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace {

using ::testing::ElementsAre;

SymbolizedFrame Frame(std::string function, std::string file = "",
                      std::string module = "") {
  SymbolizedFrame f;
  f.function = std::move(function);
  f.file = std::move(file);
  f.module = std::move(module);
  return f;
}

const SymbolizedFrame kUser =
    Frame("app::Pool::Run(int)", "app/pool.cc", "/home/u/bazel-bin/app/test");
const SymbolizedFrame kStd =
    Frame("std::condition_variable::wait(std::unique_lock<std::mutex>&)",
          "/usr/include/c++/12/condition_variable");
const SymbolizedFrame kLibc = Frame("start_thread", "./nptl/pthread_create.c",
                                    "/lib/x86_64-linux-gnu/libc.so.6");

TEST(FrameFormatTest, UserFrameIsKeptAndLibraryFramesAreNot) {
  EXPECT_FALSE(IsLibraryFrame(kUser));
  EXPECT_TRUE(IsLibraryFrame(kStd));
  EXPECT_TRUE(IsLibraryFrame(kLibc));
  EXPECT_TRUE(
      IsLibraryFrame(Frame("void std::call_once<void (&)()>("
                           "std::once_flag&, void (&)())",
                           "app/x.cc")));
  EXPECT_TRUE(IsLibraryFrame(Frame("testing::Test::Run()", "gtest.cc")));
  // A header of the user's in a Bazel workspace is the user's; glibc's
  // relative sources are not.
  EXPECT_FALSE(IsLibraryFrame(
      Frame("pkg::Wait()", "./pkg/header.h", "/home/u/bazel-bin/pkg/t")));
  EXPECT_TRUE(IsLibraryFrame(Frame("futex_wait", "./nptl/futex-internal.c",
                                   "/lib/x86_64-linux-gnu/libc.so.6")));
}

TEST(FrameFormatTest, SanitizerRuntimeFramesAreRecognizedAndUserFramesNot) {
  EXPECT_TRUE(IsSanitizerFrame(Frame("__tsan_read4")));
  EXPECT_TRUE(IsSanitizerFrame(Frame("__interceptor_pthread_create")));
  // compiler-rt's spelling since LLVM 17.
  EXPECT_TRUE(IsSanitizerFrame(Frame("___interceptor_malloc")));
  EXPECT_TRUE(IsSanitizerFrame(
      Frame("", "", "/usr/lib/x86_64-linux-gnu/libtsan.so.2")));
  EXPECT_FALSE(IsSanitizerFrame(kUser));
  EXPECT_FALSE(IsSanitizerFrame(kLibc));
}

TEST(FrameFormatTest, AllocatorFramesAreRecognizedAndTheirCallersNot) {
  EXPECT_TRUE(IsAllocatorFrame(Frame("operator new(unsigned long)")));
  EXPECT_TRUE(IsAllocatorFrame(Frame("malloc")));
  EXPECT_TRUE(IsAllocatorFrame(Frame("__interceptor_strdup")));
  EXPECT_FALSE(IsAllocatorFrame(kUser));
  EXPECT_FALSE(IsAllocatorFrame(Frame("app::MakeList(int)", "app/list.cc")));
}

TEST(FrameFormatTest, ThreadCreationAndPlumbingFramesAreRecognized) {
  EXPECT_TRUE(IsThreadCreationFrame(
      Frame("pthread_create",
            "runtime/internal/interpose/pthread_create_interposer.cc")));
  EXPECT_TRUE(IsThreadCreationFrame(
      Frame("taskleak::internal::(anonymous namespace)::Record()")));
  EXPECT_FALSE(IsThreadCreationFrame(kUser));
  EXPECT_FALSE(IsThreadCreationFrame(Frame("app::pthread_create_pool()")));

  EXPECT_TRUE(IsThreadPlumbingFrame(
      Frame("std::thread::_State_impl<std::thread::_Invoker<std::tuple<void "
            "(*)()> > >::_M_run()")));
  EXPECT_TRUE(IsThreadPlumbingFrame(kLibc));
  EXPECT_TRUE(IsThreadPlumbingFrame(Frame("clone3")));
  EXPECT_FALSE(IsThreadPlumbingFrame(kUser));
  EXPECT_FALSE(IsThreadPlumbingFrame(kStd));
}

TEST(FrameFormatTest, RunOnceFramesAreRecognizedWithOrWithoutReturnType) {
  EXPECT_TRUE(IsRunOnceFrame(Frame("__pthread_once_slow")));
  EXPECT_TRUE(IsRunOnceFrame(Frame("pthread_once")));
  // Demangled template instances carry their return type.
  EXPECT_TRUE(IsRunOnceFrame(
      Frame("void std::call_once<void (&)()>(std::once_flag&, void (&)())")));
  EXPECT_FALSE(IsRunOnceFrame(kUser));
  EXPECT_FALSE(IsRunOnceFrame(Frame("app::call_once_more()")));
}

TEST(FrameFormatTest, FunctionNameMatchesWholeNamesNotParts) {
  EXPECT_TRUE(FunctionNameMatches("app::Pool::Run(int)", "Pool::Run"));
  EXPECT_TRUE(FunctionNameMatches("app::Pool::Run(int)", "Run"));
  EXPECT_TRUE(FunctionNameMatches("app::Pool<int>::Run()", "Pool"));
  EXPECT_TRUE(FunctionNameMatches("void app::Start<int>(int)", "app::Start"));
  EXPECT_FALSE(FunctionNameMatches("app::Pool::RunAll()", "Pool::Run"));
  EXPECT_FALSE(FunctionNameMatches("app::MyPool::Run()", "Pool::Run"));
  // A parameter's type is not the function.
  EXPECT_FALSE(FunctionNameMatches("app::F(app::Pool const&)", "Pool"));
  EXPECT_FALSE(FunctionNameMatches("app::F()", ""));
}

TEST(FrameFormatTest, FirstUserFrameSkipsLibrariesAndSiteFrameFallsBack) {
  const std::vector<SymbolizedFrame> mixed = {kStd, kUser, kLibc};
  EXPECT_EQ(FirstUserFrame(mixed), &mixed[1]);
  EXPECT_EQ(SiteFrame(mixed), &mixed[1]);
  const std::vector<SymbolizedFrame> libraries = {kStd, kLibc};
  EXPECT_EQ(FirstUserFrame(libraries), nullptr);
  EXPECT_EQ(SiteFrame(libraries), &libraries[0]);
  EXPECT_EQ(SiteFrame({}), nullptr);
}

TEST(FrameFormatTest, LibraryRunsFoldAndUserFramesStay) {
  const std::vector<SymbolizedFrame> frames = {kUser, kStd, kLibc, kUser};
  EXPECT_THAT(FrameLines(frames, 10, /*keep_innermost=*/false),
              ElementsAre("app::Pool::Run(int) at app/pool.cc",
                          "... 2 frames in libraries",
                          "app::Pool::Run(int) at app/pool.cc"));
  // A single library frame is shown: folding it would save nothing.
  EXPECT_THAT(FrameLines({kUser, kLibc}, 10, false),
              ElementsAre("app::Pool::Run(int) at app/pool.cc",
                          "start_thread at ./nptl/pthread_create.c"));
}

TEST(FrameFormatTest, InnermostLibraryFramesStayOnlyWhenAsked) {
  const std::vector<SymbolizedFrame> frames = {kStd, kLibc, kUser};
  EXPECT_THAT(
      FrameLines(frames, 10, /*keep_innermost=*/true),
      ElementsAre(FormatFrame(kStd), FormatFrame(kLibc), FormatFrame(kUser)));
  EXPECT_THAT(FrameLines(frames, 10, /*keep_innermost=*/false),
              ElementsAre("... 2 frames in libraries", FormatFrame(kUser)));
}

TEST(FrameFormatTest, FramesPastTheLimitAreCountedNotShown) {
  const std::vector<SymbolizedFrame> frames = {kUser, kUser, kUser};
  EXPECT_THAT(FrameLines(frames, 1, false),
              ElementsAre(FormatFrame(kUser), "... 2 more frames"));
  EXPECT_THAT(
      FrameLines(frames, 3, false),
      ElementsAre(FormatFrame(kUser), FormatFrame(kUser), FormatFrame(kUser)));
  EXPECT_EQ(MoreFramesLine(7), "... 7 more frames");
}

TEST(FrameFormatTest, LongNamesLoseNestedTemplateArgumentsShortOnesKeepThem) {
  const std::string name = "ns::f<std::vector<int>>(std::map<int, int> const&)";
  EXPECT_EQ(ShortenFunctionName(name, 200), name);
  EXPECT_EQ(ShortenFunctionName(name, 10), "ns::f<…>(std::map<…> const&)");
}

}  // namespace
}  // namespace taskleak
