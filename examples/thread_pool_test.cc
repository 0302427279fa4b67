#include "examples/thread_pool.h"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "taskleak/runtime/task_registry.h"

namespace taskleak {
namespace {

std::vector<std::string> LiveJobNames(uint64_t watermark) {
  std::vector<std::string> names;
  for (const TaskInfo& task : ListTasks(watermark)) {
    if (task.kind == ThreadPool::kJobKind) names.push_back(task.name);
  }
  return names;
}

std::string CurrentThreadName() {
  char name[16] = {};
  pthread_getname_np(pthread_self(), name, sizeof(name));
  return name;
}

// Counts down to zero; waiting is bounded, so that a pool that never runs
// or drops a job fails the test instead of hanging it. (Plain std
// primitives, which ThreadSanitizer understands in every build.)
class Latch {
 public:
  explicit Latch(int count) : remaining_(count) {}
  void CountDown() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--remaining_ == 0) cv_.notify_all();
  }
  bool Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10),
                        [this] { return remaining_ <= 0; });
  }
  // A token to capture in a job: the latch counts its destruction, whether
  // the job ran or was dropped.
  std::shared_ptr<void> Token() {
    return std::shared_ptr<void>(nullptr, [this](void*) { CountDown(); });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int remaining_;
};

TEST(ThreadPoolTest, JobIsALiveTaskWhileQueuedAndWhileRunning) {
  const uint64_t watermark = NextTaskId();
  ThreadPool pool(1, "tp-live");
  Latch started(1), release(1);
  std::string worker_name;
  pool.Submit(
      [&] {
        worker_name = CurrentThreadName();
        started.CountDown();
        release.Wait();
      },
      "blocker");
  pool.Submit([] {}, "queued");
  ASSERT_TRUE(started.Wait());

  // "blocker" is running, "queued" waits behind it on the only worker.
  EXPECT_EQ(LiveJobNames(watermark),
            (std::vector<std::string>{"blocker", "queued"}));
  EXPECT_EQ(CountTasks(watermark), 2);
  EXPECT_GE(CountTasksByKind()[ThreadPool::kJobKind], 2);
  EXPECT_EQ(worker_name, "tp-live-0");

  release.CountDown();
  pool.WaitIdle();
  EXPECT_EQ(CountTasks(watermark), 0);
  EXPECT_TRUE(LiveJobNames(watermark).empty());
}

TEST(ThreadPoolTest, UnnamedJobsAreNamedAfterThePool) {
  const uint64_t watermark = NextTaskId();
  ThreadPool pool(1, "tp-names");
  Latch started(1), release(1);
  pool.Submit([&] {
    started.CountDown();
    release.Wait();
  });
  pool.Submit([] {});
  ASSERT_TRUE(started.Wait());
  EXPECT_EQ(LiveJobNames(watermark),
            (std::vector<std::string>{"tp-names#1", "tp-names#2"}));
  release.CountDown();
}

TEST(ThreadPoolTest, WaitIdleRunsEveryJob) {
  const uint64_t watermark = NextTaskId();
  ThreadPool pool(3, "tp-idle");
  std::atomic<int> ran{0};
  for (int i = 0; i < 200; ++i) pool.Submit([&] { ran.fetch_add(1); });
  pool.WaitIdle();
  EXPECT_EQ(ran.load(), 200);
  EXPECT_EQ(CountTasks(watermark), 0);
}

TEST(ThreadPoolTest, ShutdownDropsAndUnregistersQueuedJobs) {
  const uint64_t watermark = NextTaskId();
  ThreadPool pool(1, "tp-drop");
  Latch started(1);
  // Counts the queued jobs' destruction: only Shutdown can destroy them
  // while the blocker holds the only worker.
  Latch queued_destroyed(3);
  std::atomic<int> queued_ran{0};
  pool.Submit(
      [&] {
        started.CountDown();
        queued_destroyed.Wait();
      },
      "blocker");
  for (int i = 0; i < 3; ++i) {
    pool.Submit([token = queued_destroyed.Token(), &queued_ran] {
      queued_ran.fetch_add(1);
    });
  }
  ASSERT_TRUE(started.Wait());
  EXPECT_EQ(CountTasks(watermark), 4);

  std::thread shutdown([&] { pool.Shutdown(); });
  shutdown.join();
  EXPECT_EQ(queued_ran.load(), 0);
  EXPECT_EQ(CountTasks(watermark), 0);

  // Submitting after shutdown drops the job at once.
  pool.Submit([&] { queued_ran.fetch_add(1); }, "too late");
  EXPECT_EQ(CountTasks(watermark), 0);
  pool.Shutdown();  // idempotent
  EXPECT_EQ(queued_ran.load(), 0);
}

TEST(ThreadPoolTest, DestroyedPoolLeavesNoTasks) {
  const uint64_t watermark = NextTaskId();
  constexpr int kQueued = 50;
  Latch blockers_started(2);
  // The two running jobs return once the destructor has dropped the rest.
  Latch queued_destroyed(kQueued);
  std::atomic<int> queued_ran{0};
  {
    ThreadPool pool(2, "tp-destroy");
    for (int i = 0; i < 2; ++i) {
      pool.Submit([&] {
        blockers_started.CountDown();
        queued_destroyed.Wait();
      });
    }
    ASSERT_TRUE(blockers_started.Wait());
    for (int i = 0; i < kQueued; ++i) {
      pool.Submit([token = queued_destroyed.Token(), &queued_ran] {
        queued_ran.fetch_add(1);
      });
    }
    EXPECT_EQ(CountTasks(watermark), 2 + kQueued);
  }
  EXPECT_EQ(queued_ran.load(), 0);
  EXPECT_EQ(CountTasks(watermark), 0);
}

TEST(ThreadPoolTest, RecordsWhereJobsWereSubmittedWhenAsked) {
  const uint64_t watermark = NextTaskId();
  TaskOptions options;
  options.capture_stack = true;
  ThreadPool pool(1, "tp-stack", options);
  Latch started(1), release(1);
  pool.Submit([&] {
    started.CountDown();
    release.Wait();
  });
  ASSERT_TRUE(started.Wait());
  std::vector<TaskInfo> tasks = ListTasks(watermark);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_FALSE(tasks[0].creation_stack.empty());
  release.CountDown();
}

TEST(ThreadPoolTest, LongPoolNamesAreCutForThreadNames) {
  ThreadPool pool(1, "a-rather-long-pool-name");
  std::string worker_name;
  pool.Submit([&] { worker_name = CurrentThreadName(); });
  pool.WaitIdle();
  EXPECT_EQ(worker_name, "a-rather-long-0");
}

}  // namespace
}  // namespace taskleak
