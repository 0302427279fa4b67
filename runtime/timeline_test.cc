#include "taskleak/runtime/timeline.h"

#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>

#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/dump.h"
#include "taskleak/runtime/task_registry.h"

namespace taskleak {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* tmp = getenv("TEST_TMPDIR");
  return absl::StrCat(tmp ? tmp : "/tmp", "/", name);
}

// Runs the independent validator (python's json module) on `json`.
std::pair<int, std::string> Check(const std::string& json) {
  const std::string path = TempPath("timeline.json");
  std::ofstream(path) << json;
  FILE* pipe = popen(absl::StrCat("/usr/bin/python3 runtime/testdata/"
                                  "check_timeline.py ",
                                  path, " 2>&1")
                         .c_str(),
                     "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

struct Slice {
  int64_t begin = -1, end = -1;
  std::string line;
};

// "kind name" -> the slice, from the validator's output.
std::map<std::string, Slice> Slices(const std::string& out) {
  std::map<std::string, Slice> slices;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    Slice s;
    s.line = std::string(line);
    int64_t ts = 0, dur = 0, end = 0;
    std::string key = absl::StrCat(f[0], " ", f.size() > 1 ? f[1] : "");
    if (f[0] == "test" && f.size() >= 4 && absl::SimpleAtoi(f[2], &ts) &&
        absl::SimpleAtoi(f[3], &dur)) {
      s.begin = ts;
      s.end = ts + dur;
    } else if (f[0] == "thread" && f.size() >= 5 &&
               absl::SimpleAtoi(f[3], &ts) && absl::SimpleAtoi(f[4], &dur)) {
      s.begin = ts;
      s.end = ts + dur;
    } else if (f[0] == "task" && f.size() >= 7 && absl::SimpleAtoi(f[1], &ts) &&
               absl::SimpleAtoi(f[2], &end)) {
      s.begin = ts;
      s.end = end;
      key = absl::StrCat("task ", f[5], " ", f[6]);
    }
    slices[key] = s;
  }
  return slices;
}

// The validator's output for `json`; skips the test without python3.
#define ASSERT_VALID(json, out)                                \
  auto [status, out] = Check(json);                            \
  if (status != 0 && absl::StrContains(out, "No such file")) { \
    GTEST_SKIP() << "no /usr/bin/python3: " << out;            \
  }                                                            \
  ASSERT_EQ(status, 0) << out << "\n" << json

// Sleeps past the coarse clock's tick, so that begin < end shows.
void Pause() { absl::SleepFor(absl::Milliseconds(5)); }

TEST(TimelineTest, LeakedThreadRunsPastItsTest) {
  StartTimeline();
  ASSERT_TRUE(TimelineStarted());
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;

  BeginTimelineScope("PoolTest.Leaks");
  std::thread short_lived([] {
    pthread_setname_np(pthread_self(), "short-lived");
    Pause();
  });
  short_lived.join();
  {
    // A job that runs and ends within the test.
    TaskHandle done = RegisterTask("job", "finished");
    Pause();
  }
  bool running = false;
  std::thread leaked([&] {
    pthread_setname_np(pthread_self(), "leaked");
    std::unique_lock<std::mutex> lock(mu);
    running = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return running; });
  }
  TaskHandle task = RegisterTask("timer", "retry");
  // Ends in the next test: its slice crosses the boundary.
  TaskHandle outlived = RegisterTask("job", "outlived");
  Pause();
  EndTimelineScope();
  BeginTimelineScope("PoolTest.Next");
  Pause();
  outlived.Reset();
  EndTimelineScope();
  // Live slices end at the time of writing: past the next test's end, on
  // the coarse clock too.
  Pause();
  const std::string json = TimelineJson();
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  leaked.join();

  ASSERT_VALID(json, out);
  std::map<std::string, Slice> slices = Slices(out);
  const Slice test = slices["test PoolTest.Leaks"];
  const Slice next = slices["test PoolTest.Next"];
  const Slice gone = slices["thread short-lived"];
  const Slice alive = slices["thread leaked"];
  const Slice finished = slices["task job finished"];
  const Slice outlived_slice = slices["task job outlived"];
  const Slice live = slices["task timer retry"];
  ASSERT_GE(test.begin, 0) << out;
  ASSERT_GE(gone.begin, 0) << out;
  ASSERT_GE(alive.begin, 0) << out;
  ASSERT_GE(finished.begin, 0) << out;
  ASSERT_GE(outlived_slice.begin, 0) << out;
  ASSERT_GE(live.begin, 0) << out;
  EXPECT_LE(test.end, next.begin);
  EXPECT_THAT(test.line, HasSubstr("still_running=False"));
  // The thread that ended in its test, inside the test's slice...
  EXPECT_GE(gone.begin, test.begin);
  EXPECT_LE(gone.end, test.end);
  EXPECT_GE(gone.end - gone.begin, 4000) << gone.line;  // slept 5 ms
  EXPECT_THAT(gone.line,
              HasSubstr("created_in_test=PoolTest.Leaks still_running=False"));
  // ...the leaked one past its end.
  EXPECT_GE(alive.begin, test.begin);
  EXPECT_GT(alive.end, test.end) << out;
  EXPECT_THAT(alive.line,
              HasSubstr("created_in_test=PoolTest.Leaks still_running=True"));
  EXPECT_THAT(json, HasSubstr("\"created by\":\"timeline_test"));
  EXPECT_THAT(json, HasSubstr("timeline_test.cc:"));  // created at
  // Tasks: the finished one inside its test, the one that ended in the next
  // test across the boundary, the live one up to now.
  EXPECT_GE(finished.begin, test.begin) << finished.line;
  EXPECT_LE(finished.end, test.end) << finished.line;
  EXPECT_GE(finished.end - finished.begin, 4000) << finished.line;
  EXPECT_THAT(finished.line,
              HasSubstr("created_in_test=PoolTest.Leaks still_live=False"));
  EXPECT_GE(outlived_slice.begin, test.begin) << outlived_slice.line;
  EXPECT_GE(outlived_slice.end, next.begin) << outlived_slice.line;
  EXPECT_LE(outlived_slice.end, next.end) << outlived_slice.line;
  EXPECT_THAT(outlived_slice.line,
              HasSubstr("created_in_test=PoolTest.Leaks still_live=False"));
  EXPECT_GE(live.begin, test.begin) << live.line;
  EXPECT_GT(live.end, next.end) << live.line;
  EXPECT_THAT(live.line,
              HasSubstr("created_in_test=PoolTest.Leaks still_live=True"));
}

// What the watchdog's forked copy writes when a test hangs: the open test
// and every live thread end at the dump's time.
TEST(TimelineTest, AtADumpTheOpenTestEndsAtTheDump) {
  StartTimeline();
  BeginTimelineScope("HangTest.Hangs");
  std::thread ended([] { pthread_setname_np(pthread_self(), "ended"); });
  ended.join();
  { TaskHandle done = RegisterTask("job", "ended"); }
  TaskHandle hung = RegisterTask("job", "hung");
  Pause();
  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  Pause();  // Nothing after the dump is drawn.
  const std::string json = TimelineJsonAtDump(*dump);
  EndTimelineScope();

  ASSERT_VALID(json, out);
  std::map<std::string, Slice> slices = Slices(out);
  const Slice test = slices["test HangTest.Hangs"];
  const Slice thread = slices["thread ended"];
  const Slice done = slices["task job ended"];
  const Slice live = slices["task job hung"];
  ASSERT_GE(test.begin, 0) << out;
  ASSERT_GE(thread.begin, 0) << out;
  ASSERT_GE(done.begin, 0) << out;
  ASSERT_GE(live.begin, 0) << out;
  EXPECT_THAT(test.line, HasSubstr("still_running=True"));
  EXPECT_GE(thread.begin, test.begin);
  EXPECT_LE(thread.end, test.end);
  EXPECT_THAT(done.line, HasSubstr("created_in_test=HangTest.Hangs "
                                   "still_live=False"));
  EXPECT_LE(done.end, test.end);
  EXPECT_THAT(live.line,
              HasSubstr("created_in_test=HangTest.Hangs still_live=True"));
  EXPECT_EQ(live.end, test.end) << out;  // both at the dump
  // The dump's own threads, this one among them, still running at its end.
  bool main_thread = false;
  for (const auto& [key, slice] : slices) {
    if (absl::StartsWith(key, "thread ") &&
        absl::StrContains(slice.line, "still_running=True")) {
      EXPECT_EQ(slice.end, test.end) << slice.line;
      main_thread = true;
    }
  }
  EXPECT_TRUE(main_thread) << out;
}

TEST(TimelineTest, ValidatorRejectsABrokenTimeline) {
  auto [status, out] = Check(
      "{\"traceEvents\":[{\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":5,"
      "\"dur\":-1}]}");
  if (absl::StrContains(out, "No such file")) GTEST_SKIP() << out;
  EXPECT_EQ(status, 1);
  EXPECT_THAT(out, HasSubstr("negative duration"));
  auto [unpaired, out2] = Check(
      "{\"traceEvents\":[{\"ph\":\"b\",\"cat\":\"task\",\"id\":1,\"pid\":1,"
      "\"tid\":1,\"ts\":5}]}");
  EXPECT_EQ(unpaired, 1);
  EXPECT_THAT(out2, HasSubstr("async begin without end"));
}

}  // namespace
}  // namespace taskleak
