// A tiny suite that reports, as the process exits, what is running in it:
// its thread count, its POSIX timers and the signals it catches. Built with
// taskleak's main and with GoogleTest's; gtest_main_test compares the two.

#include <cstdio>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace {

// "Threads:" and "SigCgt:" from /proc/self/status, and the number of
// entries in /proc/self/timers.
std::string Probe() {
  std::string threads = "?", caught = "?", line;
  std::ifstream status("/proc/self/status");
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) threads = line.substr(9);
    if (line.rfind("SigCgt:", 0) == 0) caught = line.substr(8);
  }
  int timers = 0;
  std::ifstream timer_list("/proc/self/timers");
  while (std::getline(timer_list, line)) {
    if (line.rfind("ID:", 0) == 0) ++timers;
  }
  return "threads=" + threads + " timers=" + std::to_string(timers) +
         " caught=" + caught;
}

// Reports after main returns.
struct ProbeAtExit {
  ~ProbeAtExit() {
    fprintf(stderr, "probe: %s\n", Probe().c_str());
    fflush(stderr);
  }
} probe_at_exit;

TEST(ProbeTest, Passes) { SUCCEED(); }

TEST(ProbeTest, AlsoPasses) { EXPECT_EQ(1 + 1, 2); }

}  // namespace
