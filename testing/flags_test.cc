#include "taskleak/testing/flags.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/sanitizers/heap_leaks.h"
#include "taskleak/sanitizers/race_reports.h"

namespace taskleak {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Parses `args` as if given after the program name; returns what is left.
absl::StatusOr<GoogleTestLeakOptions> Parse(
    std::vector<std::string> args, std::vector<std::string>* rest = nullptr) {
  args.insert(args.begin(), "prog");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int argc = static_cast<int>(args.size());
  absl::StatusOr<GoogleTestLeakOptions> options =
      ParseTaskleakFlags(&argc, argv.data());
  if (rest != nullptr) rest->assign(argv.begin() + 1, argv.begin() + argc);
  return options;
}

class FlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* var :
         {"TASKLEAK_MODE", "TASKLEAK_GRACE", "TASKLEAK_TOLERANCE",
          "TASKLEAK_IGNORE_THREAD", "TASKLEAK_IGNORE_FUNCTION",
          "TASKLEAK_IGNORE_CREATED_BY", "TASKLEAK_CHECK", "TASKLEAK_MAX_FRAMES",
          "TASKLEAK_REPORT_DIR", "TASKLEAK_STRICT_SINGLETONS", "GITHUB_ACTIONS",
          "TEST_UNDECLARED_OUTPUTS_DIR"}) {
      unsetenv(var);
    }
  }
};

TEST_F(FlagsTest, DefaultsWithoutFlags) {
  absl::StatusOr<GoogleTestLeakOptions> o = Parse({}, nullptr);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->mode, GoogleTestLeakOptions::Mode::kFail);
  EXPECT_EQ(o->check.grace, absl::Seconds(1));
  EXPECT_EQ(o->check.tolerance, 0);
  EXPECT_TRUE(o->check.check_threads);
  EXPECT_TRUE(o->check.check_tasks);
  EXPECT_FALSE(o->check.check_fds);
  EXPECT_EQ(o->report_dir, "");
  EXPECT_FALSE(o->github_annotations);
}

// races and heap are on by default exactly where a sanitizer can find them;
// listing checks turns off what is not listed.
TEST_F(FlagsTest, CheckListTakesRacesAndHeap) {
  absl::StatusOr<GoogleTestLeakOptions> defaults = Parse({}, nullptr);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->check_races, RaceDetectionAvailable());
  EXPECT_EQ(defaults->check_heap, HeapLeakCheckAvailable());

  absl::StatusOr<GoogleTestLeakOptions> both =
      Parse({"--taskleak_check=threads,races,heap"}, nullptr);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_TRUE(both->check_races);
  EXPECT_TRUE(both->check_heap);
  EXPECT_FALSE(both->check.check_tasks);

  absl::StatusOr<GoogleTestLeakOptions> neither =
      Parse({"--taskleak_check=threads"}, nullptr);
  ASSERT_TRUE(neither.ok()) << neither.status();
  EXPECT_FALSE(neither->check_races);
  EXPECT_FALSE(neither->check_heap);
}

TEST_F(FlagsTest, EveryFlagIsAppliedAndRemoved) {
  std::vector<std::string> rest;
  absl::StatusOr<GoogleTestLeakOptions> o = Parse(
      {"--gtest_filter=A.*", "--taskleak_mode=warn", "--taskleak_grace=250ms",
       "--taskleak_tolerance=2", "--taskleak_ignore_thread=grpc_.*",
       "--taskleak_ignore_thread=io-[0-9]+",
       "--taskleak_ignore_function=Cache::Refresh",
       "--taskleak_check=threads,fds", "--taskleak_max_frames=8",
       "--taskleak_report_dir=/tmp/r", "--taskleak_strict_singletons",
       "--taskleak_grace_overlap", "positional"},
      &rest);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_THAT(rest, ElementsAre("--gtest_filter=A.*", "positional"));
  EXPECT_EQ(o->mode, GoogleTestLeakOptions::Mode::kWarn);
  EXPECT_EQ(o->check.grace, absl::Milliseconds(250));
  EXPECT_EQ(o->check.tolerance, 2);
  ASSERT_EQ(o->check.ignore.size(), 3u);
  EXPECT_EQ(o->check.ignore[0].Describe(), "thread name matches 'grpc_.*'");
  EXPECT_EQ(o->check.ignore[2].Describe(), "stack contains Cache::Refresh");
  EXPECT_TRUE(o->check.check_threads);
  EXPECT_FALSE(o->check.check_tasks);
  EXPECT_TRUE(o->check.check_fds);
  EXPECT_EQ(o->check.dump.max_frames, 8);
  EXPECT_EQ(o->report_dir, "/tmp/r");
  EXPECT_TRUE(o->check.strict_singletons);
  EXPECT_TRUE(o->grace_overlap);
}

TEST_F(FlagsTest, EnvironmentTwinsAndFlagsWin) {
  setenv("TASKLEAK_GRACE", "5s", 1);
  setenv("TASKLEAK_MODE", "off", 1);
  setenv("TASKLEAK_IGNORE_THREAD", "a.*;b.*", 1);
  setenv("GITHUB_ACTIONS", "true", 1);
  setenv("TEST_UNDECLARED_OUTPUTS_DIR", "/outputs", 1);
  absl::StatusOr<GoogleTestLeakOptions> o =
      Parse({"--taskleak_mode=fail"}, nullptr);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->check.grace, absl::Seconds(5));
  EXPECT_EQ(o->mode, GoogleTestLeakOptions::Mode::kFail);
  EXPECT_EQ(o->check.ignore.size(), 2u);
  EXPECT_TRUE(o->github_annotations);
  EXPECT_EQ(o->report_dir, "/outputs");

  // A repeatable flag on the command line replaces the environment's list.
  o = Parse({"--taskleak_ignore_thread=c.*"}, nullptr);
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_EQ(o->check.ignore.size(), 1u);
  EXPECT_EQ(o->check.ignore[0].Describe(), "thread name matches 'c.*'");
}

TEST_F(FlagsTest, BadInputNamesTheFlagAndTheProblem) {
  struct Case {
    std::string arg;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"--taskleak_color=yes", "unknown flag --taskleak_color"},
           {"--taskleak_mode=loud", "expected fail, warn or off"},
           {"--taskleak_grace=soon", "expected a duration"},
           {"--taskleak_grace=-1s", "expected a duration"},
           {"--taskleak_tolerance=many", "expected a count"},
           {"--taskleak_tolerance", "needs a value"},
           {"--taskleak_ignore_thread=(", "invalid regular expression"},
           {"--taskleak_check=threads,heapz", "unknown check 'heapz'"},
           {"--taskleak_max_frames=0", "expected a count, 1 or more"},
           {"--taskleak_strict_singletons=maybe", "expected true or false"},
           {"--taskleak_grace_overlap=soon", "expected true or false"},
       }) {
    absl::StatusOr<GoogleTestLeakOptions> o = Parse({c.arg}, nullptr);
    ASSERT_FALSE(o.ok()) << c.arg;
    EXPECT_THAT(o.status().message(), HasSubstr(c.message)) << c.arg;
  }
  setenv("TASKLEAK_GRACE", "later", 1);
  absl::StatusOr<GoogleTestLeakOptions> o = Parse({}, nullptr);
  ASSERT_FALSE(o.ok());
  EXPECT_THAT(o.status().message(), HasSubstr("TASKLEAK_GRACE"));
}

TEST_F(FlagsTest, IgnoreCreatedByAndItsTwin) {
  setenv("TASKLEAK_IGNORE_CREATED_BY", "PosixEnv::Schedule;Pool::Start", 1);
  absl::StatusOr<GoogleTestLeakOptions> from_env = Parse({}, nullptr);
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  ASSERT_EQ(from_env->check.ignore.size(), 2u);
  EXPECT_EQ(from_env->check.ignore[0].Describe(),
            "created by PosixEnv::Schedule");
  EXPECT_EQ(from_env->check.ignore[1].Describe(), "created by Pool::Start");

  // The flag replaces its twin.
  absl::StatusOr<GoogleTestLeakOptions> o =
      Parse({"--taskleak_ignore_created_by=Cache::Start"}, nullptr);
  ASSERT_TRUE(o.ok()) << o.status();
  ASSERT_EQ(o->check.ignore.size(), 1u);
  EXPECT_EQ(o->check.ignore[0].kind(), IgnoreRule::Kind::kCreatedBy);
  EXPECT_EQ(o->check.ignore[0].Describe(), "created by Cache::Start");

  absl::StatusOr<GoogleTestLeakOptions> empty =
      Parse({"--taskleak_ignore_created_by="}, nullptr);
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(),
              HasSubstr("--taskleak_ignore_created_by=: empty name"));
}

TEST_F(FlagsTest, HelpNamesEveryFlag) {
  const std::string help = TaskleakFlagsHelp();
  for (const char* flag :
       {"--taskleak_mode", "--taskleak_grace", "--taskleak_tolerance",
        "--taskleak_ignore_thread", "--taskleak_ignore_function",
        "--taskleak_ignore_created_by", "--taskleak_check",
        "--taskleak_max_frames", "--taskleak_report_dir",
        "--taskleak_strict_singletons", "--taskleak_grace_overlap"}) {
    EXPECT_THAT(help, HasSubstr(flag));
  }
}

TEST_F(FlagsTest, TimelineFlagAndEnvironmentTwin) {
  unsetenv("TASKLEAK_TIMELINE");
  absl::StatusOr<GoogleTestLeakOptions> off = Parse({}, nullptr);
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->timeline);
  absl::StatusOr<GoogleTestLeakOptions> on =
      Parse({"--taskleak_timeline"}, nullptr);
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_TRUE(on->timeline);
  setenv("TASKLEAK_TIMELINE", "1", 1);
  absl::StatusOr<GoogleTestLeakOptions> env = Parse({}, nullptr);
  absl::StatusOr<GoogleTestLeakOptions> bad =
      Parse({"--taskleak_timeline=maybe"}, nullptr);
  unsetenv("TASKLEAK_TIMELINE");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_TRUE(env->timeline);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("--taskleak_timeline=maybe: expected true or false"));
}
TEST_F(FlagsTest, SymbolizeFlagAndEnvironmentTwin) {
  unsetenv("TASKLEAK_SYMBOLIZE");
  absl::StatusOr<GoogleTestLeakOptions> user = Parse({}, nullptr);
  ASSERT_TRUE(user.ok());
  EXPECT_FALSE(user->library_lines);
  absl::StatusOr<GoogleTestLeakOptions> all =
      Parse({"--taskleak_symbolize=all"}, nullptr);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->library_lines);
  setenv("TASKLEAK_SYMBOLIZE", "all", 1);
  absl::StatusOr<GoogleTestLeakOptions> env = Parse({}, nullptr);
  absl::StatusOr<GoogleTestLeakOptions> flag_wins =
      Parse({"--taskleak_symbolize=user"}, nullptr);
  absl::StatusOr<GoogleTestLeakOptions> bad =
      Parse({"--taskleak_symbolize=some"}, nullptr);
  unsetenv("TASKLEAK_SYMBOLIZE");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_TRUE(env->library_lines);
  ASSERT_TRUE(flag_wins.ok()) << flag_wins.status();
  EXPECT_FALSE(flag_wins->library_lines);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("--taskleak_symbolize=some: expected user or all"));
  EXPECT_THAT(TaskleakFlagsHelp(), HasSubstr("--taskleak_symbolize=user|all"));
}

// The defaults shown are GoogleTestLeakOptions' own, so they cannot drift.
TEST_F(FlagsTest, HelpShowsTheOptionsDefaults) {
  const GoogleTestLeakOptions defaults;
  const std::string help = TaskleakFlagsHelp();
  EXPECT_THAT(
      help, HasSubstr(absl::StrCat(
                "(default ", absl::FormatDuration(defaults.check.grace), ")")));
  EXPECT_THAT(help, HasSubstr(absl::StrCat(
                        "(default ", defaults.check.dump.max_frames, ")")));
  EXPECT_THAT(help, HasSubstr("--taskleak_mode=fail|warn|off\n      fail the "
                              "test that leaks, only warn, or check nothing "
                              "(default fail)"));
  EXPECT_THAT(help,
              HasSubstr(absl::StrCat("(default threads,tasks",
                                     defaults.check_races ? ",races" : "",
                                     defaults.check_heap ? ",heap" : "", ")")));
  EXPECT_THAT(help, HasSubstr("chrome://tracing (default false)"));
}

// --taskleak_test_timeout and --taskleak_dump_on_signal (the time limit and
// signal dumps of testing/gtest_listener.h).
TEST_F(FlagsTest, TimeoutAndSignalDumps) {
  unsetenv("TASKLEAK_TEST_TIMEOUT");
  unsetenv("TASKLEAK_DUMP_ON_SIGNAL");
  absl::StatusOr<GoogleTestLeakOptions> o = Parse({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->test_timeout, absl::ZeroDuration());
  EXPECT_TRUE(o->dump_on_signal);

  o = Parse({"--taskleak_test_timeout=90s", "--taskleak_dump_on_signal=false"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->test_timeout, absl::Seconds(90));
  EXPECT_FALSE(o->dump_on_signal);

  for (const char* none : {"0", "off", "inf"}) {
    o = Parse({absl::StrCat("--taskleak_test_timeout=", none)});
    ASSERT_TRUE(o.ok()) << none << ": " << o.status();
    EXPECT_EQ(o->test_timeout, absl::ZeroDuration()) << none;
  }
  for (const char* bad : {"-1s", "3", "soon"}) {
    o = Parse({absl::StrCat("--taskleak_test_timeout=", bad)});
    EXPECT_FALSE(o.ok()) << bad;
  }
  EXPECT_FALSE(Parse({"--taskleak_dump_on_signal=maybe"}).ok());

  setenv("TASKLEAK_TEST_TIMEOUT", "2m", 1);
  o = Parse({});
  unsetenv("TASKLEAK_TEST_TIMEOUT");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->test_timeout, absl::Minutes(2));
}

}  // namespace
}  // namespace taskleak
