#include "taskleak/leakcheck/ignore_rules.h"

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace {

using ::testing::HasSubstr;

std::vector<SymbolizedFrame> Frames(std::vector<std::string> functions) {
  std::vector<SymbolizedFrame> frames;
  for (std::string& f : functions) {
    SymbolizedFrame frame;
    frame.function = std::move(f);
    frames.push_back(frame);
  }
  return frames;
}

ThreadDump Thread(std::string name, std::vector<std::string> stack,
                  std::vector<std::string> creation) {
  ThreadDump t;
  t.info.name = std::move(name);
  t.stack_available = !stack.empty();
  t.stack = Frames(std::move(stack));
  if (!creation.empty()) {
    ThreadCreator creator;
    creator.stack = Frames(std::move(creation));
    t.created_by.push_back(creator);
  }
  return t;
}

const ThreadDump kWorker =
    Thread("pool-worker-3", {"futex_wait", "Pool::Loop(int)", "start_thread"},
           {"std::thread::thread<>()", "Pool::Pool(int)", "main"});

TEST(IgnoreRulesTest, ThreadNameMatchesWholeName) {
  EXPECT_TRUE(IgnoreThreadName("pool-worker-[0-9]+").Matches(kWorker));
  EXPECT_FALSE(IgnoreThreadName("pool").Matches(kWorker));
  EXPECT_FALSE(IgnoreThreadName("other-.*").Matches(kWorker));
}

TEST(IgnoreRulesTest, InvalidRegexIsReportedAndMatchesNothing) {
  const absl::Status invalid = ValidateIgnoreRegex("pool-[0-9");
  EXPECT_EQ(invalid.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(invalid.message()),
              HasSubstr("invalid regular expression 'pool-[0-9'"));
  EXPECT_TRUE(ValidateIgnoreRegex("pool-[0-9]").ok());
  EXPECT_FALSE(IgnoreThreadName("pool-[0-9").Matches(kWorker));
}

TEST(IgnoreRulesTest, TopFunctionLooksOnlyAtTheInnermostFrame) {
  EXPECT_TRUE(IgnoreTopFunction("futex_wait").Matches(kWorker));
  EXPECT_FALSE(IgnoreTopFunction("Pool::Loop").Matches(kWorker));
}

TEST(IgnoreRulesTest, AnyFunctionMatchesWithOrWithoutParameters) {
  EXPECT_TRUE(IgnoreAnyFunction("Pool::Loop").Matches(kWorker));
  EXPECT_TRUE(IgnoreAnyFunction("Pool::Loop(int)").Matches(kWorker));
  EXPECT_TRUE(IgnoreAnyFunction("Loop").Matches(kWorker));
  EXPECT_FALSE(IgnoreAnyFunction("Pool::Lo").Matches(kWorker));
  EXPECT_FALSE(IgnoreAnyFunction("ool::Loop").Matches(kWorker));
  EXPECT_FALSE(IgnoreAnyFunction("Pool::Pool").Matches(kWorker));
}

TEST(IgnoreRulesTest, CreatedByLooksAtTheCreationStack) {
  EXPECT_TRUE(IgnoreCreatedBy("Pool::Pool").Matches(kWorker));
  EXPECT_FALSE(IgnoreCreatedBy("Pool::Loop").Matches(kWorker));
  EXPECT_FALSE(IgnoreCreatedBy("Pool::Pool").Matches(Thread("x", {}, {})));
}

TEST(IgnoreRulesTest, PredicateSeesTheThread) {
  IgnoreRule rule = IgnoreIf("odd workers", [](const ThreadDump& t) {
    return t.info.name.back() % 2 == 1;
  });
  EXPECT_TRUE(rule.Matches(kWorker));
  EXPECT_FALSE(rule.Matches(Thread("pool-worker-2", {}, {})));
  EXPECT_EQ(rule.Describe(), "odd workers");
}

TEST(IgnoreRulesTest, ToleranceAndCostAreReported) {
  EXPECT_EQ(IgnoreThreadName("x").tolerance(), -1);
  EXPECT_EQ(IgnoreThreadName("x").AllowUpTo(2).tolerance(), 2);
  EXPECT_FALSE(IgnoreThreadName("x").NeedsStack());
  EXPECT_FALSE(IgnoreCreatedBy("x").NeedsStack());
  EXPECT_TRUE(IgnoreTopFunction("x").NeedsStack());
}

TEST(IgnoreRulesTest, CreatingFunctionSkipsTheLibraryAndMatchesItsRule) {
  const ThreadDump lazy = Thread(
      "bg", {},
      {"std::thread::_M_start_thread(std::unique_ptr<std::thread::_State, "
       "std::default_delete<std::thread::_State> >, void (*)())",
       "std::thread::thread<void (*)(void*), void*&, void>(void (*&&)(void*), "
       "void*&)",
       "leveldb::(anonymous namespace)::PosixEnv::Schedule(void (*)(void*), "
       "void*)",
       "leveldb::EnvTest_RunMany_Test::TestBody()"});
  EXPECT_EQ(CreatingFunction(lazy), "PosixEnv::Schedule");
  EXPECT_TRUE(IgnoreCreatedBy(CreatingFunction(lazy)).Matches(lazy));
  EXPECT_EQ(CreatingFunction(Thread("x", {}, {"Pool<int>::Start(int) const"})),
            "Pool<int>::Start");
  EXPECT_EQ(CreatingFunction(Thread("x", {}, {"(anonymous namespace)::Go()"})),
            "Go");
  EXPECT_EQ(CreatingFunction(Thread("x", {}, {})), "");
}

TEST(IgnoreRulesTest, BuiltinsIgnoreSanitizerAndOwnThreadsOnly) {
  std::vector<IgnoreRule> builtins = BuiltinIgnoreRules();
  auto ignored = [&](const ThreadDump& t) {
    for (const IgnoreRule& rule : builtins) {
      if (rule.Matches(t)) return true;
    }
    return false;
  };
  EXPECT_TRUE(ignored(Thread("app", {"__tsan::BackgroundThread(void*)"}, {})));
  EXPECT_TRUE(ignored(Thread("taskleak-dump", {"sem_wait"}, {})));
  EXPECT_FALSE(ignored(kWorker));
}

}  // namespace
}  // namespace taskleak
