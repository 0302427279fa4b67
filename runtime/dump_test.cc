#include "taskleak/runtime/dump.h"

#include <algorithm>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/dump_test_util.h"
#include "taskleak/runtime/task_registry.h"
#include "taskleak/runtime/thread_list.h"
#include "taskleak/testing/testutil/json_reader.h"

namespace taskleak {
namespace {

using ::taskleak::internal::JsonValue;
using ::testing::HasSubstr;
using ::testing::Not;

// The parsed JSON; fails the test (and returns null) if it is not JSON.
JsonValue ParseOrFail(const std::string& text) {
  absl::StatusOr<JsonValue> json = internal::ParseJson(text);
  EXPECT_TRUE(json.ok()) << json.status() << " in:\n" << text.substr(0, 2000);
  return json.ok() ? *std::move(json) : JsonValue();
}

// The JSON thread entry (a group leader) whose group lists `tid`.
const JsonValue* JsonThreadWith(const JsonValue& dump, pid_t tid) {
  const JsonValue* threads = dump.Get("threads");
  if (threads == nullptr) return nullptr;
  for (const JsonValue& t : threads->items) {
    const JsonValue* group = t.Get("group");
    if (group == nullptr) continue;
    for (const JsonValue& member : group->items) {
      const JsonValue* member_tid = member.Get("tid");
      if (member_tid != nullptr && member_tid->number == tid) return &t;
    }
  }
  return nullptr;
}

// Whether the frames under `stack_key` include taskleak::`function`.
bool JsonStackHas(const JsonValue& object, absl::string_view stack_key,
                  absl::string_view function) {
  const JsonValue* frames = object.Get(stack_key);
  if (frames == nullptr) return false;
  const std::string prefix = absl::StrCat("taskleak::", function, "(");
  for (const JsonValue& f : frames->items) {
    const JsonValue* name = f.Get("function");
    if (name != nullptr && absl::StartsWith(name->string, prefix)) {
      return true;
    }
  }
  return false;
}

TEST(DumpTest, ShowsEachParkedThreadWithNameStateFunctionAndLine) {
  ParkedThreads threads;
  threads.Start(DumpTestParkAlpha, "dt-alpha");
  threads.Start(DumpTestParkBeta, "dt-beta");
  const std::vector<pid_t> tids = threads.AwaitParked();
  ASSERT_EQ(tids.size(), 2u);
  const pid_t alpha = TidNamed(tids, "dt-alpha");
  const pid_t beta = TidNamed(tids, "dt-beta");
  ASSERT_NE(alpha, 0);
  ASSERT_NE(beta, 0);

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  if (SanitizerHeldTheSignal(*dump, tids)) GTEST_SKIP() << kTsanSkip;
  const std::string text = FormatDumpText(*dump);

  for (const auto& [tid, name, function] :
       {std::make_tuple(alpha, "dt-alpha", "DumpTestParkAlpha"),
        std::make_tuple(beta, "dt-beta", "DumpTestParkBeta")}) {
    SCOPED_TRACE(name);
    const ThreadDump* t = FindThread(*dump, tid);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->info.name, name);
    EXPECT_EQ(t->info.state, 'S');
    ASSERT_TRUE(t->stack_available) << t->stack_unavailable_reason;
    const SymbolizedFrame* frame = FindFrame(t->stack, function);
    ASSERT_NE(frame, nullptr) << text;
    EXPECT_TRUE(absl::EndsWith(frame->file, "dump_test_util.cc"))
        << frame->file;
    EXPECT_EQ(frame->line, threads.parking().LineOf(tid));

    const std::string block =
        TextBlock(text, absl::StrCat("thread ", Label(tid, name)));
    ASSERT_FALSE(block.empty()) << text;
    EXPECT_THAT(block, HasSubstr("(sleeping, age "));
    EXPECT_THAT(block,
                HasSubstr(absl::StrCat(function, "(taskleak::Parking*) at ")));
    EXPECT_THAT(block, HasSubstr(absl::StrCat("dump_test_util.cc:",
                                              threads.parking().LineOf(tid))));
  }
  // The two threads park in different places: two separate entries.
  EXPECT_THAT(text, Not(HasSubstr("threads like this")));
}

TEST(DumpTest, CreatedByNamesTheCreatingFunctionAndThread) {
  ParkedThreads threads;
  threads.Start(DumpTestParkAlpha, "dt-created");
  const std::vector<pid_t> tids = threads.AwaitParked();
  ASSERT_EQ(tids.size(), 1u);

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  const ThreadDump* t = FindThread(*dump, tids[0]);
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->created_by.size(), 1u)
      << "the test's main thread has no recorded origin";
  EXPECT_EQ(t->created_by[0].tid, DumpTestTid());
  const SymbolizedFrame* spawn =
      FindFrame(t->created_by[0].stack, "DumpTestSpawn");
  ASSERT_NE(spawn, nullptr);
  EXPECT_TRUE(absl::EndsWith(spawn->file, "dump_test_util.cc")) << spawn->file;
  EXPECT_GT(spawn->line, 0);

  const std::string text = FormatDumpText(*dump);
  const std::string block =
      TextBlock(text, absl::StrCat("thread ", Label(tids[0], "dt-created")));
  ASSERT_FALSE(block.empty()) << text;
  EXPECT_THAT(block,
              HasSubstr(absl::StrCat("  created by thread ", DumpTestTid())));
  const size_t created_at = block.find("created by thread");
  ASSERT_NE(created_at, std::string::npos);
  EXPECT_THAT(block.substr(created_at), HasSubstr("DumpTestSpawn("));
  EXPECT_THAT(block.substr(created_at),
              HasSubstr(absl::StrCat("dump_test_util.cc:", spawn->line)));
}

TEST(DumpTest, CreatedByChainHasTwoLinksForAThreadCreatedByAThread) {
  ParkedThreads threads;
  threads.Start(DumpTestSpawnGrandchild, "dt-parent");
  // The parent and the grandchild both park.
  const std::vector<pid_t> tids = threads.parking().AwaitParked(2);
  ASSERT_EQ(tids.size(), 2u);
  const pid_t parent = TidNamed(tids, "dt-parent");
  const pid_t grandchild = TidNamed(tids, "dt-grandchild");
  ASSERT_NE(parent, 0);
  ASSERT_NE(grandchild, 0);

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  const ThreadDump* t = FindThread(*dump, grandchild);
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->created_by.size(), 2u);
  EXPECT_EQ(t->created_by[0].tid, parent);
  EXPECT_EQ(t->created_by[0].name, "dt-parent");
  EXPECT_NE(FindFrame(t->created_by[0].stack, "DumpTestSpawnGrandchild"),
            nullptr);
  EXPECT_EQ(t->created_by[1].tid, DumpTestTid());

  const std::string block =
      TextBlock(FormatDumpText(*dump),
                absl::StrCat("thread ", Label(grandchild, "dt-grandchild")));
  EXPECT_THAT(block, HasSubstr(absl::StrCat("  created by thread ", parent,
                                            " \"dt-parent\"")));
  EXPECT_THAT(block, HasSubstr(absl::StrCat("  which was created by thread ",
                                            DumpTestTid())));
}

TEST(DumpTest, ThreadsParkedAtTheSamePlaceAreGrouped) {
  constexpr int kGroup = 5;
  ParkedThreads threads;
  for (int i = 0; i < kGroup; ++i) {
    threads.Start(DumpTestParkInGroup, absl::StrCat("dt-group-", i));
  }
  threads.Start(DumpTestParkAlpha, "dt-loner");
  const std::vector<pid_t> tids = threads.AwaitParked();
  ASSERT_EQ(tids.size(), kGroup + 1u);
  const pid_t loner = TidNamed(tids, "dt-loner");
  ASSERT_NE(loner, 0);

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  if (SanitizerHeldTheSignal(*dump, tids)) GTEST_SKIP() << kTsanSkip;
  const std::string text = FormatDumpText(*dump);

  // Text: one entry for the five, listing each of them, the stack once.
  const std::string group_block =
      TextBlock(text, absl::StrCat(kGroup, " threads like this: "));
  ASSERT_FALSE(group_block.empty()) << text;
  for (pid_t tid : tids) {
    if (tid == loner) continue;
    absl::StatusOr<ThreadInfo> info = ReadThreadInfo(tid);
    ASSERT_TRUE(info.ok());
    EXPECT_THAT(group_block, HasSubstr(Label(tid, info->name)));
    EXPECT_THAT(text, Not(HasSubstr(absl::StrCat("thread ", tid, " "))));
  }
  size_t mentions = 0;
  for (size_t at = text.find("DumpTestParkInGroup("); at != std::string::npos;
       at = text.find("DumpTestParkInGroup(", at + 1)) {
    ++mentions;
  }
  EXPECT_EQ(mentions, 1u) << text;
  // The thread parked elsewhere stays on its own.
  EXPECT_THAT(text,
              HasSubstr(absl::StrCat("thread ", Label(loner, "dt-loner"))));
  EXPECT_THAT(group_block, Not(HasSubstr("dt-loner")));

  // JSON: the group appears once, with group_size and every member.
  const JsonValue json = ParseOrFail(FormatDumpJson(*dump));
  int entries = 0;
  for (const JsonValue& t : json.Get("threads")->items) {
    if (!JsonStackHas(t, "stack", "DumpTestParkInGroup")) continue;
    ++entries;
    EXPECT_EQ(t.Get("group_size")->number, kGroup);
    std::set<pid_t> members;
    for (const JsonValue& m : t.Get("group")->items) {
      members.insert(static_cast<pid_t>(m.Get("tid")->number));
    }
    std::set<pid_t> want(tids.begin(), tids.end());
    want.erase(loner);
    EXPECT_EQ(members, want);
  }
  EXPECT_EQ(entries, 1);
  const JsonValue* loner_entry = JsonThreadWith(json, loner);
  ASSERT_NE(loner_entry, nullptr);
  EXPECT_EQ(loner_entry->Get("group_size")->number, 1);
}

TEST(DumpTest, AlikeThreadsFromDifferentCreatorsAreGroupedAndSaySo) {
  ParkedThreads threads;
  // Two parents, started at the same place, each start a grandchild at the
  // same place: two groups of two.
  for (int i = 0; i < 2; ++i) {
    threads.Start(DumpTestSpawnGrandchild, "dt-parent");
  }
  const std::vector<pid_t> tids = threads.parking().AwaitParked(4);
  ASSERT_EQ(tids.size(), 4u);

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  if (SanitizerHeldTheSignal(*dump, tids)) GTEST_SKIP() << kTsanSkip;
  const std::string text = FormatDumpText(*dump);
  std::vector<pid_t> parents;
  for (pid_t tid : tids) {
    const ThreadDump* t = FindThread(*dump, tid);
    ASSERT_NE(t, nullptr);
    if (t->info.name == "dt-parent") parents.push_back(tid);
  }
  ASSERT_EQ(parents.size(), 2u);

  // The parents share their creator; the grandchildren do not.
  const std::string parents_block = TextBlock(
      text,
      absl::StrCat("2 threads like this: ", Label(parents[0], "dt-parent"),
                   ", ", Label(parents[1], "dt-parent")));
  ASSERT_FALSE(parents_block.empty()) << text;
  EXPECT_THAT(parents_block, HasSubstr(absl::StrCat("  created by thread ",
                                                    DumpTestTid(), " \"")));
  EXPECT_THAT(parents_block, Not(HasSubstr("other thread")));
  const std::string children_block = TextBlock(text, "\"dt-grandchild\", ");
  ASSERT_FALSE(children_block.empty()) << text;
  EXPECT_THAT(children_block, HasSubstr("2 threads like this: "));
  EXPECT_THAT(children_block,
              HasSubstr("\"dt-parent\" (and 1 other thread), "));
}

TEST(DumpTest, MaxFramesCapsEveryStackAndCountsTheRest) {
  ParkedThreads threads;
  threads.Start(DumpTestParkDeep, "dt-deep");
  const std::vector<pid_t> tids = threads.AwaitParked();
  ASSERT_EQ(tids.size(), 1u);

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  if (SanitizerHeldTheSignal(*dump, tids)) GTEST_SKIP() << kTsanSkip;
  const ThreadDump* t = FindThread(*dump, tids[0]);
  ASSERT_NE(t, nullptr);
  ASSERT_TRUE(t->stack_available);
  const int total = static_cast<int>(t->stack.size());
  ASSERT_GT(total, 30);

  DumpOptions options;
  options.max_frames = 5;
  const std::string block =
      TextBlock(FormatDumpText(*dump, options),
                absl::StrCat("thread ", Label(tids[0], "dt-deep")));
  const size_t created = block.find("  created by");
  ASSERT_NE(created, std::string::npos) << block;
  const std::string stack_part = block.substr(0, created);
  // The header, at most 5 frame lines (runs of library frames may fold into
  // one), then the note, last.
  const int lines = std::count(stack_part.begin(), stack_part.end(), '\n');
  EXPECT_GE(lines, 1 + 1 + 1) << stack_part;
  EXPECT_LE(lines, 1 + 5 + 1) << stack_part;
  EXPECT_TRUE(absl::EndsWith(
      stack_part, absl::StrCat("    ... ", total - 5, " more frames\n")))
      << stack_part;

  const JsonValue json = ParseOrFail(FormatDumpJson(*dump, options));
  const JsonValue* entry = JsonThreadWith(json, tids[0]);
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->Get("stack")->items.size(), 5u);
  EXPECT_EQ(entry->Get("frames_omitted")->number, total - 5);

  // Twin: the default limit shows the whole stack and omits nothing.
  const JsonValue full = ParseOrFail(FormatDumpJson(*dump));
  const JsonValue* full_entry = JsonThreadWith(full, tids[0]);
  ASSERT_NE(full_entry, nullptr);
  const int shown = std::min(total, DumpOptions().max_frames);
  EXPECT_EQ(full_entry->Get("stack")->items.size(), static_cast<size_t>(shown));
  EXPECT_EQ(full_entry->Get("frames_omitted")->number, total - shown);
}

TEST(DumpTest, RegisteredTaskAppearsWithKindNameAndCreationFunction) {
  TaskHandle task = DumpTestRegisterTimer();
  ASSERT_TRUE(task.active());

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  const TaskDump* found = nullptr;
  for (const TaskDump& t : dump->tasks) {
    if (t.info.id == task.id()) found = &t;
  }
  ASSERT_NE(found, nullptr);
  EXPECT_NE(FindFrame(found->creation_stack, "DumpTestRegisterTimer"), nullptr);

  const std::string block = TextBlock(
      FormatDumpText(*dump),
      absl::StrCat("task #", task.id(), " timer \"dump-test-retry\""));
  ASSERT_FALSE(block.empty()) << FormatDumpText(*dump);
  EXPECT_THAT(block, HasSubstr(absl::StrCat("created by thread ", DumpTestTid(),
                                            " at:")));
  EXPECT_THAT(block, HasSubstr("DumpTestRegisterTimer() at "));
  EXPECT_THAT(block, HasSubstr("dump_test_util.cc:"));

  const JsonValue json = ParseOrFail(FormatDumpJson(*dump));
  const JsonValue* entry = nullptr;
  for (const JsonValue& t : json.Get("tasks")->items) {
    if (t.Get("id")->number == static_cast<double>(task.id())) entry = &t;
  }
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->Get("kind")->string, "timer");
  EXPECT_EQ(entry->Get("name")->string, "dump-test-retry");
  EXPECT_EQ(entry->Get("creator_tid")->number, DumpTestTid());
  EXPECT_TRUE(JsonStackHas(*entry, "creation_stack", "DumpTestRegisterTimer"));

  // Twin: once the task ends, neither form mentions it.
  task.Reset();
  absl::StatusOr<ProcessDump> after = DumpProcess();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_THAT(FormatDumpText(*after), Not(HasSubstr("dump-test-retry")));
  EXPECT_THAT(FormatDumpJson(*after), Not(HasSubstr("dump-test-retry")));
}

TEST(DumpTest, IncludeTasksFalseLeavesTasksOut) {
  TaskHandle task = DumpTestRegisterTimer();
  DumpOptions options;
  options.include_tasks = false;
  absl::StatusOr<ProcessDump> dump = DumpProcess(options);
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_TRUE(dump->tasks.empty());
}

TEST(DumpTest, ThreadWithoutAStackShowsWhyAndIsNotGrouped) {
  ParkedThreads threads;
  threads.Start(DumpTestParkWithSignalsBlocked, "dt-masked-1");
  threads.Start(DumpTestParkWithSignalsBlocked, "dt-masked-2");
  const std::vector<pid_t> tids = threads.AwaitParked();
  ASSERT_EQ(tids.size(), 2u);

  absl::StatusOr<ProcessDump> dump = DumpProcess();
  ASSERT_TRUE(dump.ok()) << dump.status();
  const std::string text = FormatDumpText(*dump);
  for (pid_t tid : tids) {
    const ThreadDump* t = FindThread(*dump, tid);
    ASSERT_NE(t, nullptr);
    EXPECT_FALSE(t->stack_available);
    EXPECT_THAT(t->stack_unavailable_reason, HasSubstr("blocked"));
    const std::string block =
        TextBlock(text, absl::StrCat("thread ", Label(tid, t->info.name)));
    ASSERT_FALSE(block.empty()) << text;
    EXPECT_THAT(block, HasSubstr("    stack unavailable: "));
  }
  const JsonValue json = ParseOrFail(FormatDumpJson(*dump));
  for (pid_t tid : tids) {
    const JsonValue* entry = JsonThreadWith(json, tid);
    ASSERT_NE(entry, nullptr);
    EXPECT_FALSE(entry->Get("stack_available")->boolean);
    EXPECT_THAT(entry->Get("stack_unavailable_reason")->string,
                HasSubstr("blocked"));
    EXPECT_EQ(entry->Get("group_size")->number, 1);
  }
}

// Bazel records a workspace header as "./pkg/header.h", and glibc its own
// sources as "./nptl/..." too: the module tells the user's frame from
// glibc's, and only glibc's is folded.
TEST(DumpTest, RelativeHeaderInTheProgramIsUserCodeButInLibcIsNot) {
  ProcessDump dump;
  ThreadDump thread;
  thread.info.id.tid = 4242;
  thread.info.name = "parked";
  thread.stack_available = true;
  SymbolizedFrame header;
  header.function = "pkg::Parked::Wait()";
  header.file = "./pkg/header.h";
  header.line = 12;
  header.module = "/home/user/bazel-bin/pkg/parked_test";
  SymbolizedFrame libc;
  libc.function = "start_thread_helper";
  libc.file = "./nptl/pthread_create.c";
  libc.line = 442;
  libc.module = "/lib/x86_64-linux-gnu/libc.so.6";
  SymbolizedFrame wait = libc;  // The innermost frames are always shown.
  wait.function = "futex_wait";
  wait.file = "./nptl/futex-internal.c";
  thread.stack = {wait, header, libc, libc};
  dump.threads.push_back(thread);
  const std::string text = FormatDumpText(dump);
  EXPECT_THAT(text, HasSubstr("pkg::Parked::Wait() at ./pkg/header.h:12"));
  EXPECT_THAT(text, HasSubstr("... 2 frames in libraries")) << text;
  EXPECT_THAT(text, Not(HasSubstr("pthread_create.c"))) << text;
}

}  // namespace
}  // namespace taskleak
