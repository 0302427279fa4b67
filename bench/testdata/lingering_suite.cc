// The pattern of suites whose tests start and stop local servers: each test
// starts a server thread, does a little work, asks the server to stop and
// returns, while the server notices only at its next wake-up, up to 200 ms
// later. All tests pass; with taskleak's listener every test waits for its
// server to end, unless --taskleak_grace_overlap lets the next tests run
// meanwhile. The last test prints, over the tests before it, the median
// time from a server's end to the start of the next test's body (how long
// the check took to notice; with the overlap, servers end during later
// tests and the figure says nothing):
//   lingering_suite: median slack after a server ended: slack_ms=...
// LINGERING_SUITE_TESTS (default 10) sets the number of tests,
// LINGERING_SUITE_WORK_MS (default 5) each test's work and
// LINGERING_SUITE_WAKE_MS (default 200) how often a server wakes up.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace {

using Clock = std::chrono::steady_clock;

int FromEnvironment(const char* name, int fallback) {
  const char* value = getenv(name);
  return value != nullptr && atoi(value) > 0 ? atoi(value) : fallback;
}
const int kTests = FromEnvironment("LINGERING_SUITE_TESTS", 10);
const std::chrono::milliseconds kWork(FromEnvironment("LINGERING_SUITE_WORK_MS",
                                                      5));
const std::chrono::milliseconds kWakeEvery(
    FromEnvironment("LINGERING_SUITE_WAKE_MS", 200));

// Written by the server as it ends, read by the next test.
std::atomic<Clock::rep> last_server_end{0};
std::vector<double>* slack_ms = new std::vector<double>;

class Server {
 public:
  Server()
      : stop_(std::make_shared<std::atomic<bool>>(false)),
        thread_([stop = stop_] {
          while (!stop->load()) std::this_thread::sleep_for(kWakeEvery);
          last_server_end.store(Clock::now().time_since_epoch().count());
        }) {}
  // Asks the server to stop and lets it finish on its own, as servers whose
  // stop() only sets a flag do.
  ~Server() {
    stop_->store(true);
    thread_.detach();
  }

 private:
  std::shared_ptr<std::atomic<bool>> stop_;
  std::thread thread_;
};

class Lingering : public testing::TestWithParam<int> {};

TEST_P(Lingering, ServerStopsAfterTheTest) {
  const Clock::rep ended = last_server_end.exchange(0);
  if (ended != 0) {
    slack_ms->push_back(
        std::chrono::duration<double, std::milli>(
            Clock::now() - Clock::time_point(Clock::duration(ended)))
            .count());
  }
  if (GetParam() == kTests - 1 && !slack_ms->empty()) {
    std::vector<double> s = *slack_ms;
    std::sort(s.begin(), s.end());
    printf(
        "lingering_suite: median slack after a server ended: "
        "slack_ms=%.1f\n",
        s[s.size() / 2]);
    return;
  }
  Server server;
  std::this_thread::sleep_for(kWork);
}

INSTANTIATE_TEST_SUITE_P(Servers, Lingering, testing::Range(0, kTests));

}  // namespace
