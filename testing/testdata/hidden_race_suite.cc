// Data races that taskleak's own bookkeeping used to hide from
// ThreadSanitizer, each beside a synchronized twin. Built twice, with
// GoogleTest's gtest_main and with taskleak's; tsan_neutral_test.cc runs
// each test in its own process and expects TSan to report the racy ones
// with either main, and nothing for the twins.

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"
#include "taskleak/runtime/task_registry.h"

namespace {

// Each test uses its own variable, so a report names the test's race only.
int g_counter = 0;
int g_after = 0;
int g_grace = 0;
int g_task = 0;
int g_task_end = 0;

__attribute__((noinline)) void Bump(int* value) {
  for (int i = 0; i < 10000; ++i) ++*value;
}

__attribute__((noinline)) void BumpLocked(int* value, std::mutex* mu) {
  std::lock_guard<std::mutex> lock(*mu);
  Bump(value);
}

// Waits for a relaxed flag, which orders nothing.
void AwaitRelaxed(const std::atomic<bool>& flag) {
  while (!flag.load(std::memory_order_relaxed)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// The simplest race: two threads bump a global counter.
TEST(Counter, Unsynchronized) {
  std::thread t1(Bump, &g_counter), t2(Bump, &g_counter);
  t1.join();
  t2.join();
}

TEST(Counter, Locked) {
  std::mutex mu;
  std::thread t1(BumpLocked, &g_counter, &mu);
  std::thread t2(BumpLocked, &g_counter, &mu);
  t1.join();
  t2.join();
}

// The first thread has exited before the second is created; only a join
// would order them. (taskleak's thread registry used to: the first thread's
// exit unlocked what the second's creation locked.)
TEST(ThreadAfterThread, Unsynchronized) {
  std::atomic<bool> done{false};
  std::thread first([&] {
    Bump(&g_after);
    done.store(true, std::memory_order_relaxed);
  });
  AwaitRelaxed(done);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // first exits
  std::thread second(Bump, &g_after);
  second.join();
  first.join();
}

TEST(ThreadAfterThread, Joined) {
  std::thread first(Bump, &g_after);
  first.join();
  std::thread second(Bump, &g_after);
  second.join();
}

// A detached thread writes, is still alive when the test ends (so the
// thread check polls it and captures its stack during the grace window),
// and exits; the next test reads on the main thread.
std::mutex* const g_grace_mu = new std::mutex;
bool g_grace_locked = false;

TEST(GraceWindow, DetachedWriter) {
  std::thread([] {
    Bump(&g_grace);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }).detach();
}

TEST(GraceWindow, DetachedLockedWriter) {
  g_grace_locked = true;
  std::thread([] {
    BumpLocked(&g_grace, g_grace_mu);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }).detach();
}

// Runs after one of the two above (see the driver's --gtest_filter).
TEST(GraceWindow, MainReadsLater) {
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  if (g_grace_locked) {
    BumpLocked(&g_grace, g_grace_mu);
  } else {
    Bump(&g_grace);
  }
}

// The main thread writes first, then the thread check polls a detached
// thread through the grace window before that thread writes: the report
// must still show the main thread's earlier stack (taskleak's polling on
// the main thread used to push it out of TSan's history).
int g_history = 0;

TEST(History, MainWritesBeforeTheGraceWindow) {
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    Bump(&g_history);
  }).detach();
  Bump(&g_history);  // After the thread's creation, so unordered with it.
}

TEST(History, LaterTest) {
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
}

// A worker finishes a registered task and resets its handle; the main thread
// sees "done" through a relaxed flag, registers the next task and reads.
// (The task registry's shard lock used to order the two.)
void RunTaskRace(bool synchronized) {
  std::mutex mu;
  std::atomic<bool> done{false};
  taskleak::TaskHandle task = taskleak::RegisterTask("job", "bump");
  std::thread worker([&] {
    if (synchronized) {
      BumpLocked(&g_task, &mu);
    } else {
      Bump(&g_task);
    }
    task.Reset();
    done.store(true, std::memory_order_relaxed);
  });
  AwaitRelaxed(done);
  taskleak::TaskHandle next = taskleak::RegisterTask("job", "read");
  if (synchronized) {
    BumpLocked(&g_task, &mu);
  } else {
    Bump(&g_task);
  }
  next.Reset();
  worker.join();
}

TEST(Tasks, Unsynchronized) { RunTaskRace(false); }
TEST(Tasks, Locked) { RunTaskRace(true); }

// Each thread ends a task of its own (so no shard lock is shared) between
// its accesses; with --taskleak_timeline both ends are recorded under the
// timeline's one lock, which must order nothing.
void RunTaskEndRace(bool synchronized) {
  std::mutex mu;
  std::atomic<bool> done{false};
  taskleak::TaskHandle mine = taskleak::RegisterTask("job", "main's");
  std::thread worker([&] {
    taskleak::TaskHandle own = taskleak::RegisterTask("job", "worker's");
    if (synchronized) {
      BumpLocked(&g_task_end, &mu);
    } else {
      Bump(&g_task_end);
    }
    own.Reset();
    done.store(true, std::memory_order_relaxed);
  });
  AwaitRelaxed(done);
  mine.Reset();
  if (synchronized) {
    BumpLocked(&g_task_end, &mu);
  } else {
    Bump(&g_task_end);
  }
  worker.join();
}

TEST(TaskEnds, Unsynchronized) { RunTaskEndRace(false); }
TEST(TaskEnds, Locked) { RunTaskEndRace(true); }

}  // namespace
