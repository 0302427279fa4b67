// Death tests in GoogleTest's "threadsafe" style: each EXPECT_EXIT runs this
// program again (--gtest_internal_run_death_test), which then runs only that
// statement. Linked with //testing:gtest_main and with GoogleTest's own:
// gtest_listener_benchmark times the children, gtest_listener_test checks
// what taskleak starts in them.

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace {

// What of taskleak's is alive in this process, "" if nothing: its unwinder
// or libdw loaded, its dump handlers installed, threads besides this one.
std::string TaskleakStartedHere() {
  std::string seen;
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    for (const char* lib : {"libunwind.so", "libdw.so"}) {
      if (line.find(lib) != std::string::npos &&
          seen.find(lib) == std::string::npos) {
        seen += std::string(lib) + " is mapped; ";
      }
    }
  }
  for (int signo : {SIGTERM, SIGQUIT}) {
    struct sigaction action;
    if (sigaction(signo, nullptr, &action) == 0 &&
        action.sa_handler != SIG_DFL) {
      seen += std::string("a handler for ") + strsignal(signo) + "; ";
    }
  }
  int threads = 0;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (dirent* entry = readdir(dir)) threads += entry->d_name[0] != '.';
    closedir(dir);
  }
  if (threads != 1) seen += std::to_string(threads) + " threads; ";
  return seen;
}

class DeathTestChild : public testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(DeathTestChild, ExitsTwentyTimes) {
  for (int i = 0; i < 20; ++i) {
    EXPECT_EXIT(_exit(3), testing::ExitedWithCode(3), "");
  }
}

// Exits 0 only if the child was left as GoogleTest's own main leaves it;
// otherwise says what it found.
TEST_F(DeathTestChild, StartsNothingOfTaskleaks) {
  EXPECT_EXIT(
      {
        const std::string seen = TaskleakStartedHere();
        fprintf(stderr, "in the death-test child: %s\n",
                seen.empty() ? "nothing of taskleak's" : seen.c_str());
        _exit(seen.empty() ? 0 : 1);
      },
      testing::ExitedWithCode(0), "nothing of taskleak's");
}

// The statement leaks a thread and dies: the child is not checked (it never
// reaches the end of the test), and the parent's check does not see it.
TEST_F(DeathTestChild, LeakInTheStatementIsNotBlamed) {
  EXPECT_EXIT(
      {
        std::thread([] { pause(); }).detach();
        _exit(5);
      },
      testing::ExitedWithCode(5), "");
}

// The parent's own leak is still blamed.
TEST_F(DeathTestChild, ParentLeaksAfterTheDeathTest) {
  EXPECT_EXIT(_exit(6), testing::ExitedWithCode(6), "");
  std::thread([] { pause(); }).detach();
}

}  // namespace
