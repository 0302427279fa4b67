#include "taskleak/runtime/pprof_profile.h"

#include <stdio.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/config.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/dump.h"
#include "taskleak/testing/testutil/idle_thread.h"

namespace taskleak {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Decoded {
  int exit_code = -1;
  std::string output;
};

// Writes the profile and decodes it with protoc + python3-protobuf.
Decoded Decode(const std::string& profile) {
  const char* tmp = getenv("TEST_TMPDIR");
  const std::string path = absl::StrCat(tmp ? tmp : "/tmp", "/threads.pb.gz");
  std::ofstream(path, std::ios::binary) << profile;
  const std::string command = absl::StrCat(
      "/usr/bin/python3 runtime/testdata/decode_pprof.py ", path, " 2>&1");
  Decoded d;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return d;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) d.output.append(buf, n);
  const int status = pclose(pipe);
  d.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return d;
}

#define DECODE_OR_SKIP(decoded, profile)              \
  Decoded decoded = Decode(profile);                  \
  if (decoded.exit_code == 3)                         \
    GTEST_SKIP() << "no decoder: " << decoded.output; \
  ASSERT_EQ(decoded.exit_code, 0) << decoded.output

SymbolizedFrame Frame(uintptr_t pc, std::string function, std::string file,
                      int line, bool inlined = false) {
  SymbolizedFrame f;
  f.pc = pc;
  f.function = std::move(function);
  f.file = std::move(file);
  f.line = line;
  f.module = "/bin/app";
  f.inlined = inlined;
  return f;
}

ThreadDump Thread(pid_t tid, std::string name,
                  std::vector<SymbolizedFrame> stack) {
  ThreadDump t;
  t.info.id.tid = tid;
  t.info.name = std::move(name);
  t.info.state = 'S';
  t.stack_available = true;
  t.stack = std::move(stack);
  ThreadCreator creator;
  creator.tid = 1;
  creator.name = "main";
  creator.stack = {
      Frame(0x900, "std::thread::thread<>()", "/usr/include/c++/12/thread", 1),
      Frame(0x910, "app::Pool::Pool(int)", "app/pool.cc", 42)};
  t.created_by.push_back(creator);
  return t;
}

TEST(ThreadProfileTest, OneSamplePerStackCountedInThreads) {
  const std::vector<SymbolizedFrame> waiting = {
      Frame(0x10, "futex_wait", "", 0),
      Frame(0x20, "app::Queue::Pop()", "app/queue.h", 7, /*inlined=*/true),
      Frame(0x20, "app::Pool::Work()", "app/pool.cc", 30),
      Frame(0x30, "start_thread", "", 0)};
  std::vector<ThreadDump> threads = {
      Thread(11, "worker-0", waiting), Thread(12, "worker-1", waiting),
      Thread(13, "flusher", {Frame(0x40, "app::Flush()", "app/flush.cc", 3)})};
  ThreadDump lost;
  lost.info.id.tid = 14;
  lost.info.name = "masked";
  lost.info.state = 'S';
  lost.stack_unavailable_reason = "signal blocked";
  threads.push_back(lost);

  ThreadProfileOptions options;
  options.test = "PoolTest.Leaks";
  DECODE_OR_SKIP(d, ThreadProfile(threads, options));
  const std::vector<std::string> lines =
      absl::StrSplit(d.output, '\n', absl::SkipEmpty());
  EXPECT_THAT(
      lines,
      ElementsAre(
          "sample_type threads count",
          "sample 2 state=sleeping|thread=worker-0|thread=worker-1|"
          "created_at=app::Pool::Pool(int) at app/pool.cc:42|created_by=main|"
          "test=PoolTest.Leaks",
          "   futex_wait @ :0", "   app::Queue::Pop() @ app/queue.h:7",
          "   app::Pool::Work() @ app/pool.cc:30", "   start_thread @ :0",
          "sample 1 state=sleeping|thread=flusher|"
          "created_at=app::Pool::Pool(int) at app/pool.cc:42|created_by=main|"
          "test=PoolTest.Leaks",
          "   app::Flush() @ app/flush.cc:3",
          "sample 1 state=sleeping|thread=masked|test=PoolTest.Leaks",
          "   [stack unavailable: signal blocked] @ :0"));
  // The same grouping as the text report.
  EXPECT_THAT(
      FormatThreadsText(threads),
      HasSubstr("2 threads like this: 11 \"worker-0\", 12 \"worker-1\""));
}

TEST(ThreadProfileTest, MatchesTheTextReportOfLiveThreads) {
#ifdef ABSL_HAVE_THREAD_SANITIZER
  GTEST_SKIP() << "TSan delivers the capture signal only at its safe points; "
                  "threads parked on a condition variable never answer";
#endif
  std::vector<std::unique_ptr<internal::IdleThread>> idle;
  std::vector<ThreadInfo> infos;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(std::make_unique<internal::IdleThread>());
    absl::StatusOr<ThreadInfo> info = ReadThreadInfo(idle.back()->tid());
    ASSERT_TRUE(info.ok()) << info.status();
    infos.push_back(*info);
  }
  absl::StatusOr<std::vector<ThreadDump>> dumps = DumpThreads(infos);
  ASSERT_TRUE(dumps.ok()) << dumps.status();
  for (ThreadDump& t : *dumps) t.info.state = 'S';
  ASSERT_TRUE((*dumps)[0].stack_available);
  // The text's groups: "N threads like this" or "thread TID".
  const std::string text = FormatThreadsText(*dumps);
  std::vector<int> text_groups;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    int n = 0;
    if (absl::StartsWith(line, "thread ")) text_groups.push_back(1);
    if (absl::StrContains(line, " threads like this") &&
        absl::SimpleAtoi(line.substr(0, line.find(' ')), &n)) {
      text_groups.push_back(n);
    }
  }

  DECODE_OR_SKIP(d, ThreadProfile(*dumps));
  std::vector<int> samples;
  std::vector<std::string> first_sample_functions;
  for (absl::string_view line : absl::StrSplit(d.output, '\n')) {
    int n = 0;
    if (absl::ConsumePrefix(&line, "sample ") &&
        absl::SimpleAtoi(line.substr(0, line.find(' ')), &n)) {
      samples.push_back(n);
      EXPECT_THAT(line, HasSubstr("state=sleeping"));
    }
    if (samples.size() == 1 && absl::ConsumePrefix(&line, "   ")) {
      first_sample_functions.emplace_back(line.substr(0, line.rfind(" @ ")));
    }
  }
  EXPECT_EQ(samples, text_groups) << d.output << "\n" << text;
  int threads = 0;
  for (int n : samples) threads += n;
  EXPECT_EQ(threads, 3);
  // The first sample is the first thread's stack, frame by frame, under the
  // names the text shows (shortened there past 100 characters).
  const std::vector<SymbolizedFrame>& stack = (*dumps)[0].stack;
  ASSERT_EQ(first_sample_functions.size(), stack.size()) << d.output;
  for (size_t i = 0; i < stack.size(); ++i) {
    if (stack[i].function.empty()) continue;  // "?? (module+offset)"
    EXPECT_EQ(first_sample_functions[i], stack[i].function);
    if (stack[i].function.size() < 100) {
      EXPECT_THAT(text, HasSubstr(stack[i].function));
    }
  }
}

}  // namespace
}  // namespace taskleak
