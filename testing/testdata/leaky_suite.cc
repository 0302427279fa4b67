// Tests that leak on purpose, beside clean ones of every kind GoogleTest
// has. testing/gtest_listener_test.cc runs this binary and checks that
// exactly the leaking tests fail, with the right report.

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"
#include "taskleak/runtime/task_registry.h"
#include "taskleak/testing/this_test.h"

namespace {

// Never notified: leaked threads block on it until the process ends. Never
// destroyed, so exiting cannot wait on it. std primitives, not Abseil's:
// ThreadSanitizer sees through them (Debian's Abseil is not instrumented),
// and delivers the stack-capture signal to threads blocked in them.
struct Never {
  std::mutex mu;
  std::condition_variable cv;
};

__attribute__((noinline)) void BlockForever() {
  static auto* never = new Never;
  std::unique_lock<std::mutex> lock(never->mu);
  never->cv.wait(lock, [] { return false; });
}

__attribute__((noinline)) void StartWorker(const char* name) {
  std::thread([name] {  // THREAD-START-LINE
    pthread_setname_np(pthread_self(), name);
    BlockForever();
  })
      .detach();
}

void StartShortLived(std::chrono::milliseconds life) {
  std::thread([life] { std::this_thread::sleep_for(life); }).detach();
}

TEST(Clean, JoinsItsThread) {
  std::thread([] {}).join();
}

TEST(Leaky, DetachedWorker) { StartWorker("leaky-worker"); }

TEST(Leaky, SkipsTheCheck) {
  taskleak::ThisTest::SkipLeakCheck();
  StartWorker("skipped-worker");
}

TEST(Leaky, ToleratesOne) {
  taskleak::ThisTest::SetTolerance(1);
  StartWorker("tolerated");
}

TEST(Leaky, IgnoresByName) {
  taskleak::ThisTest::Ignore(taskleak::IgnoreThreadName("ignored-.*"));
  StartWorker("ignored-worker");
}

// Run with a 300ms grace: this thread ends well within it.
TEST(Lingering, EndsWithinTheGrace) {
  StartShortLived(std::chrono::milliseconds(50));
}

// Needs more than the grace, and says so. Its thread ends once the next
// test has looked at it, or after 1.5 s when that test does not come first.
std::atomic<bool> extra_time_thread_running{false};
std::atomic<bool> next_test_looked{false};
TEST(Lingering, AllowedExtraTime) {
  taskleak::ThisTest::AllowLingering(absl::Seconds(2));
  extra_time_thread_running = true;
  std::thread([] {
    for (int i = 0; i < 150 && !next_test_looked; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    extra_time_thread_running = false;
  }).detach();
}

// Whether the test before returned while its thread still ran: it does with
// --taskleak_grace_overlap; otherwise its check waited for the thread.
TEST(Lingering, AfterAllowedExtraTime) {
  printf("thread of the test before: %s\n",
         extra_time_thread_running ? "running" : "ended");
  next_test_looked = true;
}

// Its thread outlives a 300 ms window and ends 1 s after the test, before
// the run's end: a leak with or without --taskleak_grace_overlap.
TEST(Late, ThreadOutlivesItsWindow) {
  StartShortLived(std::chrono::milliseconds(1000));
}
TEST(Late, TakesAWhile) {
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
}
TEST(Late, RunsOn) {
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
}

TEST(Tasks, NeverCancelledTimer) {
  static auto* timer =
      new taskleak::TaskHandle(taskleak::RegisterTask("timer", "refresh"));
  (void)timer;
}

// A thread that never names itself: the report must not show it under the
// program's name, which reads like the main thread.
TEST(Unnamed, Worker) {
  std::thread([] { BlockForever(); }).detach();
}

// A process-wide pool in static storage that starts its thread on first
// use, as leveldb's PosixEnv::Schedule does: whichever test schedules first
// is blamed, and the report says how to accept the thread.
class LazyPool {
 public:
  __attribute__((noinline)) void Schedule() {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return;
    started_ = true;
    std::thread([] {  // LAZY-START-LINE
      pthread_setname_np(pthread_self(), "lazy-pool");
      BlockForever();
    })
        .detach();
  }

 private:
  std::mutex mu_;
  bool started_ = false;
};

LazyPool& SharedPool() {
  static auto* pool = new LazyPool;
  return *pool;
}

TEST(Lazy, SchedulesOnTheSharedPool) { SharedPool().Schedule(); }

// Threads of a suite's own set-up and tear-down are the suite's: it fails
// ("Suite: SetUpTestSuite or TearDownTestSuite"), none of its tests.
class SuiteStartsWorker : public testing::Test {
 protected:
  static void SetUpTestSuite() { StartWorker("suite-worker"); }
};
TEST_F(SuiteStartsWorker, First) {}
TEST_F(SuiteStartsWorker, Second) {}

class SuiteTearDownStartsWorker : public testing::Test {
 protected:
  static void TearDownTestSuite() { StartWorker("teardown-worker"); }
};
TEST_F(SuiteTearDownStartsWorker, Test) {}

// The twin: a worker started in SetUpTestSuite and stopped in
// TearDownTestSuite is no leak.
class StoppableWorker {
 public:
  StoppableWorker()
      : thread_([this] {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [this] { return stop_; });
        }) {}
  ~StoppableWorker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

class SuiteStopsItsWorker : public testing::Test {
 protected:
  static void SetUpTestSuite() { worker_ = new StoppableWorker; }
  static void TearDownTestSuite() {
    delete worker_;
    worker_ = nullptr;
  }
  static StoppableWorker* worker_;
};
StoppableWorker* SuiteStopsItsWorker::worker_ = nullptr;
TEST_F(SuiteStopsItsWorker, First) {}
TEST_F(SuiteStopsItsWorker, Second) {}

TEST(Skipped, SkipsCleanly) { GTEST_SKIP() << "nothing to see"; }

class LeakOnOdd : public testing::TestWithParam<int> {};
TEST_P(LeakOnOdd, Worker) {
  if (GetParam() % 2 == 1) StartWorker("odd-worker");
}
INSTANTIATE_TEST_SUITE_P(Numbers, LeakOnOdd, testing::Values(0, 1));

template <typename T>
class Typed : public testing::Test {};
using Types = testing::Types<int, char>;
TYPED_TEST_SUITE(Typed, Types);
TYPED_TEST(Typed, JoinsItsThread) {
  std::thread([] {}).join();
}

TEST(ForkDeathTest, ChildIsNotChecked) {
  EXPECT_DEATH(
      {
        StartWorker("death-child");
        abort();
      },
      "");
}

}  // namespace
