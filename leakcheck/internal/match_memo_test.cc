#include "taskleak/leakcheck/internal/match_memo.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "taskleak/leakcheck/ignore_rules.h"
#include "taskleak/runtime/dump.h"

namespace taskleak {
namespace internal {
namespace {

SymbolizedFrame Frame(const std::string& function) {
  SymbolizedFrame frame;
  frame.function = function;
  return frame;
}

ThreadDump Thread(const std::string& name, SharedFrames stack,
                  SharedFrames created_at = {}) {
  ThreadDump dump;
  dump.info.name = name;
  dump.stack_available = !stack.empty();
  dump.stack = std::move(stack);
  ThreadCreator creator;
  creator.stack = std::move(created_at);
  dump.created_by.push_back(std::move(creator));
  return dump;
}

// The answer the rules give without a memo.
int FirstMatchAfresh(const std::vector<IgnoreRule>& rules,
                     const ThreadDump& thread) {
  for (size_t i = 0; i < rules.size(); ++i) {
    if (rules[i].Matches(thread)) return static_cast<int>(i);
  }
  return -1;
}

TEST(MatchMemoTest, AgreesWithTheRulesForThreadsThatShareStacks) {
  const std::vector<IgnoreRule> rules = {
      IgnoreThreadName("poller-.*"),
      IgnoreTopFunction("Idle"),
      IgnoreAnyFunction("Cache::Refresh"),
      IgnoreCreatedBy("StartExporter"),
  };
  const SharedFrames idle = {Frame("Idle()"), Frame("Loop()")};
  const SharedFrames refresh = {Frame("Wait()"), Frame("Cache::Refresh()")};
  const SharedFrames busy = {Frame("Work()"), Frame("Loop()")};
  const SharedFrames exporter = {Frame("std::thread::thread"),
                                 Frame("StartExporter()")};
  const SharedFrames elsewhere = {Frame("StartPool()")};
  std::vector<ThreadDump> threads;
  // Each shape twice, so that the second of each is answered from the memo.
  for (int round = 0; round < 2; ++round) {
    threads.push_back(Thread("poller-1", busy, elsewhere));
    threads.push_back(Thread("worker", idle, elsewhere));
    threads.push_back(Thread("worker", refresh, elsewhere));
    threads.push_back(Thread("worker", busy, exporter));
    threads.push_back(Thread("worker", busy, elsewhere));
    threads.push_back(Thread("poller-2", {}, {}));
  }
  MatchMemo memo(&rules);
  const std::vector<int> expected = {0, 1, 2, 3, -1, 0};
  for (size_t i = 0; i < threads.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(memo.FirstMatch(threads[i]), expected[i % expected.size()]);
    EXPECT_EQ(memo.FirstMatch(threads[i]), FirstMatchAfresh(rules, threads[i]));
  }
}

// A predicate sees the whole dump: threads alike in name and stacks but
// not in what it looks at get their own answers.
TEST(MatchMemoTest, PredicatesRunForEachThread) {
  const std::vector<IgnoreRule> rules = {
      IgnoreIf("even tid",
               [](const ThreadDump& t) { return t.info.id.tid % 2 == 0; }),
  };
  const SharedFrames stack = {Frame("Loop()")};
  MatchMemo memo(&rules);
  for (pid_t tid = 1; tid <= 4; ++tid) {
    ThreadDump thread = Thread("worker", stack, stack);
    thread.info.id.tid = tid;
    EXPECT_EQ(memo.FirstMatch(thread), tid % 2 == 0 ? 0 : -1) << tid;
  }
}

// The memo holds each stack it answered for, so a new stack never lands at
// the address of one it remembers and inherits its answer.
TEST(MatchMemoTest, ANewStackIsNotTakenForAnOldOne) {
  const std::vector<IgnoreRule> rules = {IgnoreTopFunction("Idle")};
  MatchMemo memo(&rules);
  for (int i = 0; i < 100; ++i) {
    const bool idle = i % 2 == 0;
    ThreadDump thread =
        Thread("worker", SharedFrames{Frame(idle ? "Idle()" : "Work()")});
    EXPECT_EQ(memo.FirstMatch(thread), idle ? 0 : -1) << i;
  }
}

TEST(MatchMemoTest, SingletonVerdictFollowsTheCreationStack) {
  const SharedFrames once = {Frame("std::thread::thread"),
                             Frame("std::call_once<Init>"),
                             Frame("Registry::Get()")};
  const SharedFrames plain = {Frame("std::thread::thread"),
                              Frame("StartPool()")};
  std::vector<IgnoreRule> none;
  MatchMemo memo(&none);
  for (int round = 0; round < 2; ++round) {
    EXPECT_TRUE(memo.StartedBySingleton(Thread("a", {}, once)));
    EXPECT_FALSE(memo.StartedBySingleton(Thread("b", {}, plain)));
    ThreadDump in_static = Thread("c", {}, plain);
    in_static.created_by[0].in_static_initializer = true;
    EXPECT_TRUE(memo.StartedBySingleton(in_static));
    ThreadDump unrecorded = Thread("d", {});
    unrecorded.created_by.clear();
    EXPECT_FALSE(memo.StartedBySingleton(unrecorded));
  }
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
