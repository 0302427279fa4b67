#include "taskleak/leakcheck/deferred_check.h"

#include <pthread.h>

#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "taskleak/leakcheck/leak_checker.h"

namespace taskleak {
namespace {

// A named thread that runs until told to end; joined on destruction. It
// waits on std primitives, which ThreadSanitizer sees through, and a thread
// blocked in them takes the capture signal (see leak_checker_test.cc).
class Lingerer {
 public:
  explicit Lingerer(const std::string& name) {
    std::promise<void> named;
    thread_ = std::thread([this, name, &named] {
      pthread_setname_np(pthread_self(), name.c_str());
      named.set_value();
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return end_; });
    });
    named.get_future().wait();
  }
  ~Lingerer() { End(); }
  void End() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      end_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool end_ = false;
  std::thread thread_;
};

LeakCheckOptions Options(absl::Duration grace) {
  LeakCheckOptions options;
  options.grace = grace;
  options.check_tasks = false;
  return options;
}

// The deferred check at a scope's end; fails the test if it cannot start.
std::optional<DeferredCheck> EndOfScope(const LeakSnapshot& before,
                                        const LeakCheckOptions& options,
                                        const std::string& scope) {
  absl::StatusOr<std::optional<DeferredCheck>> pending =
      DeferredCheck::Start(before, options, scope);
  EXPECT_TRUE(pending.ok()) << pending.status();
  return pending.ok() ? *std::move(pending) : std::nullopt;
}

// Whether every noted thread has ended within a few seconds: a joined
// thread can stay listed in /proc for a moment.
bool EventuallyAllEnded(DeferredCheck& check) {
  for (int i = 0; i < 2000; ++i) {
    if (check.AllEnded()) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return false;
}

// Starts a named thread `after` from now, from a thread of its own: while
// a Finish still waiting out its window runs.
class LateStarter {
 public:
  LateStarter(std::string name, absl::Duration after)
      : starter_([this, name, after] {
          absl::SleepFor(after);
          lingerer_ = std::make_unique<Lingerer>(name);
        }) {}
  ~LateStarter() {
    starter_.join();
    lingerer_.reset();
  }

 private:
  std::unique_ptr<Lingerer> lingerer_;
  std::thread starter_;
};

// The scope's end with nothing new: no check to finish later.
TEST(DeferredCheckTest, NothingNewLeavesNothingToFinish) {
  std::thread([] {}).join();  // TSan's background thread, if any, is old.
  const LeakCheckOptions options = Options(absl::Seconds(1));
  absl::StatusOr<LeakSnapshot> before = LeakSnapshot::Take(options);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_FALSE(EndOfScope(*before, options, "Scope").has_value());
}

// A thread that came and went within the scope is no leak (it may still be
// listed for a moment as the scope ends, and is then noted).
TEST(DeferredCheckTest, ThreadThatCameAndWentIsNoLeak) {
  const LeakCheckOptions options = Options(absl::Seconds(5));
  absl::StatusOr<LeakSnapshot> before = LeakSnapshot::Take(options);
  ASSERT_TRUE(before.ok()) << before.status();
  std::thread([] {}).join();
  std::optional<DeferredCheck> pending =
      EndOfScope(*before, options, "Suite.Joins");
  bool clean = true;  // Nothing to finish, the usual case.
  if (pending.has_value()) {
    absl::StatusOr<LeakReport> report = pending->Finish();
    ASSERT_TRUE(report.ok()) << report.status();
    clean = report->clean();
  }
  EXPECT_TRUE(clean);
}

// The bug: the thread outlives its grace window, though the scope ended
// long before; it is blamed on the scope.
TEST(DeferredCheckTest, ThreadAliveAfterItsWindowIsBlamedOnTheScope) {
  const LeakCheckOptions options = Options(absl::Milliseconds(50));
  absl::StatusOr<LeakSnapshot> before = LeakSnapshot::Take(options);
  ASSERT_TRUE(before.ok()) << before.status();
  Lingerer lingerer("lingerer");
  std::optional<DeferredCheck> pending =
      EndOfScope(*before, options, "Suite.Leaks");
  ASSERT_TRUE(pending.has_value());
  EXPECT_FALSE(pending->AllEnded());

  absl::StatusOr<LeakReport> report = pending->Finish();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->threads.size(), 1u) << report->Text();
  EXPECT_EQ(report->threads[0].info.name, "lingerer");
  EXPECT_EQ(report->scope, "Suite.Leaks");
  EXPECT_EQ(report->grace, absl::Milliseconds(50));
  EXPECT_GE(report->waited, absl::Milliseconds(50));
}

// The twin: the thread ends within its window, after the scope's end; the
// later check finds nothing.
TEST(DeferredCheckTest, ThreadEndingWithinItsWindowIsNotBlamed) {
  const LeakCheckOptions options = Options(absl::Seconds(30));
  absl::StatusOr<LeakSnapshot> before = LeakSnapshot::Take(options);
  ASSERT_TRUE(before.ok()) << before.status();
  Lingerer lingerer("ends-later");
  std::optional<DeferredCheck> pending =
      EndOfScope(*before, options, "Suite.Clean");
  ASSERT_TRUE(pending.has_value());
  std::thread ender([&lingerer] {
    absl::SleepFor(absl::Milliseconds(100));
    lingerer.End();
  });
  absl::StatusOr<LeakReport> report = pending->Finish();
  ender.join();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->clean()) << report->Text();
  EXPECT_TRUE(EventuallyAllEnded(*pending));
}

// Threads that start after the scope's end belong to whoever started them:
// the later check, which sees them start while it waits, blames only the
// scope's own.
TEST(DeferredCheckTest, ThreadsStartedAfterTheScopeAreNotItsOwn) {
  const LeakCheckOptions options = Options(absl::Milliseconds(400));
  absl::StatusOr<LeakSnapshot> before = LeakSnapshot::Take(options);
  ASSERT_TRUE(before.ok()) << before.status();
  Lingerer own("scope-thread");
  std::optional<DeferredCheck> pending =
      EndOfScope(*before, options, "Suite.First");
  ASSERT_TRUE(pending.has_value());
  LateStarter later("next-scope", absl::Milliseconds(100));  // The next test's.

  absl::StatusOr<LeakReport> report = pending->Finish();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->threads.size(), 1u) << report->Text();
  EXPECT_EQ(report->threads[0].info.name, "scope-thread");
}

// AllEnded follows the threads without waiting.
TEST(DeferredCheckTest, AllEndedOnceTheScopesThreadsHaveEnded) {
  const LeakCheckOptions options = Options(absl::Seconds(30));
  absl::StatusOr<LeakSnapshot> before = LeakSnapshot::Take(options);
  ASSERT_TRUE(before.ok()) << before.status();
  auto first = std::make_unique<Lingerer>("first");
  auto second = std::make_unique<Lingerer>("second");
  std::optional<DeferredCheck> pending =
      EndOfScope(*before, options, "Suite.Two");
  ASSERT_TRUE(pending.has_value());
  EXPECT_FALSE(pending->AllEnded());
  first.reset();
  EXPECT_FALSE(pending->AllEnded());
  second.reset();
  EXPECT_TRUE(EventuallyAllEnded(*pending));
  const absl::Time before_finish = absl::Now();
  absl::StatusOr<LeakReport> report = pending->Finish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->clean()) << report->Text();
  // Nothing left to wait for: not the 30 s window.
  EXPECT_LT(absl::Now() - before_finish, absl::Seconds(10));
}

// Tolerance applies to the scope's own threads, as at its end: one is
// allowed...
TEST(DeferredCheckTest, ToleranceAllowsTheScopesThreads) {
  LeakCheckOptions options = Options(absl::Milliseconds(20));
  options.tolerance = 1;
  absl::StatusOr<LeakSnapshot> before = LeakSnapshot::Take(options);
  ASSERT_TRUE(before.ok()) << before.status();
  Lingerer own("allowed");
  std::optional<DeferredCheck> pending =
      EndOfScope(*before, options, "Suite.Tolerated");
  ASSERT_TRUE(pending.has_value());
  absl::StatusOr<LeakReport> report = pending->Finish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->clean()) << report->Text();
}

// ...two of its own are one too many, and what others start meanwhile is
// neither counted nor shown.
TEST(DeferredCheckTest, ToleranceBlamesTheScopesThreadsOverIt) {
  LeakCheckOptions options = Options(absl::Milliseconds(400));
  options.tolerance = 1;
  absl::StatusOr<LeakSnapshot> before = LeakSnapshot::Take(options);
  ASSERT_TRUE(before.ok()) << before.status();
  Lingerer first("own-1");
  Lingerer second("own-2");
  std::optional<DeferredCheck> pending =
      EndOfScope(*before, options, "Suite.OverTolerance");
  ASSERT_TRUE(pending.has_value());
  LateStarter later("not-the-scopes", absl::Milliseconds(100));
  absl::StatusOr<LeakReport> report = pending->Finish();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->threads.size(), 2u) << report->Text();
  for (const ThreadDump& thread : report->threads) {
    EXPECT_NE(thread.info.name, "not-the-scopes");
  }
}

}  // namespace
}  // namespace taskleak
