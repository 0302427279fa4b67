#include "taskleak/runtime/task_registry.h"

#include <dlfcn.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

// Outside any namespace and not static, so that -rdynamic exports it and
// dladdr() can name it. Stores the handle through a pointer and keeps
// working after the call so that the call is never a tail call.
extern "C" __attribute__((noinline)) int TaskRegistryTestRegisterHere(
    bool capture_stack, taskleak::TaskHandle* out) {
  taskleak::TaskOptions options;
  options.capture_stack = capture_stack;
  *out = taskleak::RegisterTask("test_stack", "registered_here", options);
  asm volatile("" ::: "memory");
  return out->active() ? 1 : 0;
}

namespace taskleak {
namespace {

// Runs a function on a new thread and waits for it.
template <typename F>
void OnOtherThread(F f) {
  std::thread t(f);
  t.join();
}

// Waits up to `timeout` for `child` to exit; kills it if it does not.
bool WaitForChild(pid_t child, absl::Duration timeout, int* status) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, child, 0));
  bool exited = true;
  if (pidfd >= 0) {
    pollfd p = {pidfd, POLLIN, 0};
    exited =
        poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) == 1;
    close(pidfd);
  }
  if (!exited) kill(child, SIGKILL);
  waitpid(child, status, 0);
  return exited;
}

const TaskInfo* FindTask(const std::vector<TaskInfo>& tasks, uint64_t id) {
  for (const TaskInfo& t : tasks) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

TEST(TaskRegistryTest, RegisteredTaskIsListedUntilReset) {
  const uint64_t watermark = NextTaskId();
  const absl::Time before = absl::Now();
  TaskHandle task = RegisterTask("test_listed", "alpha");
  const absl::Time after = absl::Now();
  ASSERT_TRUE(task.active());
  EXPECT_GE(task.id(), watermark);

  std::vector<TaskInfo> tasks = ListTasks(watermark);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].id, task.id());
  EXPECT_EQ(tasks[0].kind, "test_listed");
  EXPECT_EQ(tasks[0].name, "alpha");
  EXPECT_EQ(tasks[0].creator_tid, gettid());
  // The coarse clock lags by up to one tick (a few ms).
  EXPECT_GE(tasks[0].created_at, before - absl::Milliseconds(50));
  EXPECT_LE(tasks[0].created_at, after + absl::Milliseconds(50));
  EXPECT_TRUE(tasks[0].creation_stack.empty());
  EXPECT_EQ(CountTasks(watermark), 1);
  EXPECT_GE(CountTasks(), 1);
  EXPECT_EQ(CountTasksByKind()["test_listed"], 1);
  EXPECT_NE(FindTask(ListTasks(), task.id()), nullptr);

  task.Reset();
  EXPECT_FALSE(task.active());
  EXPECT_EQ(task.id(), 0u);
  EXPECT_EQ(CountTasks(watermark), 0);
  EXPECT_TRUE(ListTasks(watermark).empty());
  EXPECT_FALSE(CountTasksByKind().contains("test_listed"));
}

TEST(TaskRegistryTest, DestroyingTheHandleUnregisters) {
  const uint64_t watermark = NextTaskId();
  {
    TaskHandle a = RegisterTask("test_scoped", "a");
    TaskHandle b = RegisterTask("test_scoped", "b");
    EXPECT_EQ(CountTasks(watermark), 2);
    EXPECT_EQ(CountTasksByKind()["test_scoped"], 2);
  }
  EXPECT_EQ(CountTasks(watermark), 0);
}

TEST(TaskRegistryTest, EmptyHandleIsInactive) {
  const uint64_t watermark = NextTaskId();
  TaskHandle empty;
  EXPECT_FALSE(empty.active());
  EXPECT_EQ(empty.id(), 0u);
  empty.Reset();
  EXPECT_EQ(CountTasks(watermark), 0);
}

TEST(TaskRegistryTest, MoveTransfersTheTask) {
  const uint64_t watermark = NextTaskId();
  TaskHandle original = RegisterTask("test_move", "moved");
  const uint64_t id = original.id();

  TaskHandle moved(std::move(original));
  EXPECT_FALSE(original.active());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(original.id(), 0u);     // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(moved.active());
  EXPECT_EQ(moved.id(), id);
  original.Reset();  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(CountTasks(watermark), 1);

  // Assigning over an active handle unregisters the task it held.
  TaskHandle other = RegisterTask("test_move", "overwritten");
  const uint64_t other_id = other.id();
  other = std::move(moved);
  EXPECT_EQ(other.id(), id);
  EXPECT_FALSE(moved.active());  // NOLINT(bugprone-use-after-move)
  std::vector<TaskInfo> tasks = ListTasks(watermark);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].id, id);
  EXPECT_EQ(FindTask(tasks, other_id), nullptr);

  // Self-move keeps the task.
  TaskHandle& alias = other;
  other = std::move(alias);
  EXPECT_EQ(other.id(), id);
  EXPECT_EQ(CountTasks(watermark), 1);

  other.Reset();
  other.Reset();
  EXPECT_EQ(CountTasks(watermark), 0);
  EXPECT_EQ(CountTasksByKind().count("test_move"), 0u);
}

TEST(TaskRegistryTest, WatermarkCountsOnlyNewerTasks) {
  TaskHandle older = RegisterTask("test_watermark", "older");
  const uint64_t watermark = NextTaskId();
  TaskHandle newer = RegisterTask("test_watermark", "newer");

  EXPECT_LT(older.id(), watermark);
  EXPECT_GE(newer.id(), watermark);
  EXPECT_EQ(CountTasks(watermark), 1);
  std::vector<TaskInfo> tasks = ListTasks(watermark);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].name, "newer");
  EXPECT_EQ(CountTasks(older.id()), 2);
  EXPECT_EQ(CountTasks(newer.id() + 1), 0);

  newer.Reset();
  EXPECT_EQ(CountTasks(watermark), 0);
  EXPECT_EQ(CountTasks(older.id()), 1);
}

// A thread keeps a block of reserved ids; a watermark taken while it holds
// one must still order the thread's next task after the watermark.
TEST(TaskRegistryTest, WatermarkOrdersTasksOfOtherThreads) {
  std::mutex mu;
  std::condition_variable cv;
  int step = 0;
  TaskHandle before_mark, after_mark;
  std::thread worker([&] {
    before_mark = RegisterTask("test_watermark_thread", "before");
    {
      std::unique_lock<std::mutex> lock(mu);
      step = 1;
      cv.notify_all();
      cv.wait(lock, [&] { return step == 2; });
    }
    after_mark = RegisterTask("test_watermark_thread", "after");
  });
  uint64_t watermark = 0;
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return step == 1; });
    watermark = NextTaskId();
    step = 2;
    cv.notify_all();
  }
  worker.join();

  EXPECT_LT(before_mark.id(), watermark);
  EXPECT_GE(after_mark.id(), watermark);
  std::vector<TaskInfo> tasks = ListTasks(watermark);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].name, "after");
  EXPECT_EQ(CountTasks(watermark), 1);
}

// A task outlives the thread that registered it; a new thread reusing that
// thread's slot must still order its tasks after the old ones.
TEST(TaskRegistryTest, TasksOutliveTheirThread) {
  TaskHandle first;
  OnOtherThread([&] { first = RegisterTask("test_outlive", "first"); });
  const uint64_t watermark = NextTaskId();
  TaskHandle second;
  OnOtherThread([&] { second = RegisterTask("test_outlive", "second"); });

  EXPECT_LT(first.id(), watermark);
  EXPECT_GE(second.id(), watermark);
  EXPECT_GT(second.id(), first.id());
  EXPECT_EQ(CountTasks(watermark), 1);
  EXPECT_EQ(CountTasks(first.id()), 2);
  std::vector<TaskInfo> tasks = ListTasks(first.id());
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0].name, "first");
  EXPECT_EQ(tasks[1].name, "second");
  EXPECT_NE(tasks[0].creator_tid, gettid());

  // Unregistering on a thread other than the creator.
  OnOtherThread([&] { first.Reset(); });
  EXPECT_EQ(CountTasks(tasks[0].id), 1);
  second.Reset();
  EXPECT_EQ(CountTasks(tasks[0].id), 0);
}

TEST(TaskRegistryTest, CapturesCreationStackWhenAsked) {
  const uint64_t watermark = NextTaskId();
  TaskHandle task;
  ASSERT_EQ(TaskRegistryTestRegisterHere(/*capture_stack=*/true, &task), 1);
  std::vector<TaskInfo> tasks = ListTasks(watermark);
  ASSERT_EQ(tasks.size(), 1u);
  const std::vector<uintptr_t>& stack = tasks[0].creation_stack;
  ASSERT_FALSE(stack.empty());
  EXPECT_LE(stack.size(), static_cast<size_t>(kMaxTaskStackDepth));

  void* const function = reinterpret_cast<void*>(&TaskRegistryTestRegisterHere);
  int found_at = -1;
  for (size_t i = 0; i < stack.size() && found_at < 0; ++i) {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(stack[i]), &info) != 0 &&
        info.dli_saddr == function) {
      found_at = static_cast<int>(i);
    }
  }
  // The innermost frame is the registering function itself.
  EXPECT_EQ(found_at, 0) << "stack[0]=" << std::hex << stack[0]
                         << " function=" << function;
}

// A thread's first creation stacks and its later ones come from different
// unwinders (runtime/internal/unwind/libunwind.cc); the result must not change,
// and the thread must be able to exit afterwards (one unwinder's per-thread
// cache once crashed ThreadSanitizer at thread exit).
TEST(TaskRegistryTest, CreationStackIsTheSameFromEveryUnwinder) {
  constexpr int kRegistrations = 600;
  std::vector<std::vector<uintptr_t>> stacks;
  for (int round = 0; round < 3; ++round) {
    OnOtherThread([&] {
      const uint64_t watermark = NextTaskId();
      std::vector<TaskHandle> tasks(kRegistrations);
      for (TaskHandle& task : tasks) {
        TaskRegistryTestRegisterHere(/*capture_stack=*/true, &task);
      }
      std::vector<TaskInfo> listed = ListTasks(watermark);
      ASSERT_EQ(listed.size(), static_cast<size_t>(kRegistrations));
      for (const TaskInfo& info : listed) {
        stacks.push_back(info.creation_stack);
      }
    });
  }
  ASSERT_EQ(stacks.size(), 3u * kRegistrations);
  ASSERT_FALSE(stacks.front().empty());
  for (size_t i = 0; i < stacks.size(); ++i) {
    ASSERT_EQ(stacks[i], stacks.front()) << "registration " << i;
  }
}

TEST(TaskRegistryTest, NoCreationStackUnlessAsked) {
  const uint64_t watermark = NextTaskId();
  TaskHandle task;
  ASSERT_EQ(TaskRegistryTestRegisterHere(/*capture_stack=*/false, &task), 1);
  std::vector<TaskInfo> tasks = ListTasks(watermark);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_TRUE(tasks[0].creation_stack.empty());
  // A recycled record that once held a stack must not show it again.
  task.Reset();
  TaskHandle with_stack;
  TaskRegistryTestRegisterHere(true, &with_stack);
  with_stack.Reset();
  TaskRegistryTestRegisterHere(false, &task);
  tasks = ListTasks(watermark);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_TRUE(tasks[0].creation_stack.empty());
}

TEST(TaskRegistryTest, LongKindAndNameAreTruncated) {
  const uint64_t watermark = NextTaskId();
  const std::string long_kind(100, 'k');
  const std::string long_name(200, 'n');
  const std::string exact_name(kMaxTaskNameLength, 'e');
  // 62 ASCII bytes and a two-byte character straddling the limit.
  const std::string utf8_name = std::string(62, 'u') + "\xC3\xA9";
  TaskHandle a = RegisterTask(long_kind, long_name);
  TaskHandle b = RegisterTask("test_truncate", exact_name);
  TaskHandle c = RegisterTask("test_truncate", utf8_name);
  TaskHandle d = RegisterTask("", "");

  std::vector<TaskInfo> tasks = ListTasks(watermark);
  ASSERT_EQ(tasks.size(), 4u);
  EXPECT_EQ(tasks[0].kind, std::string(kMaxTaskKindLength, 'k'));
  EXPECT_EQ(tasks[0].name, std::string(kMaxTaskNameLength, 'n'));
  EXPECT_EQ(tasks[1].name, exact_name);
  EXPECT_EQ(tasks[2].name, std::string(62, 'u'));
  EXPECT_EQ(tasks[3].kind, "");
  EXPECT_EQ(tasks[3].name, "");
  EXPECT_EQ(CountTasksByKind()[std::string(kMaxTaskKindLength, 'k')], 1);
}

TEST(TaskRegistryTest, ConcurrentRegisterAndUnregisterLeaveNothing) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 2000;
  const uint64_t watermark = NextTaskId();
  std::atomic<bool> done{false};
  std::atomic<int> bad_snapshots{0};

  // Lists while the others churn: every task seen must be one of theirs.
  std::thread reader([&] {
    while (!done.load()) {
      for (const TaskInfo& t : ListTasks(watermark)) {
        if (t.kind != "test_churn" || t.name.rfind("w", 0) != 0) {
          bad_snapshots.fetch_add(1);
        }
      }
      const int64_t n = CountTasks(watermark);
      if (n < 0 || n > kThreads * 4) bad_snapshots.fetch_add(1);
      const auto by_kind = CountTasksByKind();
      auto it = by_kind.find("test_churn");
      if (it != by_kind.end() && (it->second <= 0 || it->second > kThreads * 4))
        bad_snapshots.fetch_add(1);
    }
  });

  std::vector<std::vector<uint64_t>> ids(kThreads);
  std::vector<std::thread> workers;
  for (int w = 0; w < kThreads; ++w) {
    workers.emplace_back([w, &ids] {
      const std::string name = "w" + std::to_string(w);
      std::vector<TaskHandle> held;
      for (int i = 0; i < kRounds; ++i) {
        held.push_back(RegisterTask("test_churn", name));
        ids[w].push_back(held.back().id());
        // Keep up to three alive and release them out of order.
        if (held.size() > 3) {
          held.erase(held.begin() + (i % held.size()));
        }
        if (i % 7 == 0) NextTaskId();
      }
    });
  }
  for (std::thread& t : workers) t.join();
  done.store(true);
  reader.join();

  EXPECT_EQ(bad_snapshots.load(), 0);
  EXPECT_EQ(CountTasks(watermark), 0);
  EXPECT_TRUE(ListTasks(watermark).empty());
  EXPECT_FALSE(CountTasksByKind().contains("test_churn"));

  std::set<uint64_t> unique;
  for (const auto& per_thread : ids) {
    for (size_t i = 0; i < per_thread.size(); ++i) {
      EXPECT_GE(per_thread[i], watermark);
      if (i > 0) {
        EXPECT_GT(per_thread[i], per_thread[i - 1]);
      }
      unique.insert(per_thread[i]);
    }
  }
  EXPECT_EQ(unique.size(), static_cast<size_t>(kThreads * kRounds));
}

// A fork while another thread is inside the registry must leave the child a
// usable registry.
TEST(TaskRegistryTest, ForkedChildCanRegister) {
  std::atomic<bool> done{false};
  std::thread churn([&] {
    while (!done.load()) {
      TaskHandle t = RegisterTask("test_fork_churn", "x");
    }
  });
  // The child's ListTasks() locks the churning thread's shard too.
  TaskHandle held = RegisterTask("test_fork", "held");
  for (int i = 0; i < 10; ++i) {
    const pid_t child = fork();
    if (child < 0) {
      ADD_FAILURE() << "fork failed";
      break;
    }
    if (child == 0) {
      const uint64_t watermark = NextTaskId();
      TaskHandle t = RegisterTask("test_fork_child", "child");
      const bool ok = CountTasks(watermark) == 1 && !ListTasks().empty();
      t.Reset();
      _exit(ok && CountTasks(watermark) == 0 ? 0 : 1);
    }
    int status = 0;
    if (!WaitForChild(child, absl::Seconds(10), &status)) {
      ADD_FAILURE() << "forked child hung in the task registry";
      break;
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "child status " << status;
  }
  done.store(true);
  churn.join();
}

}  // namespace
}  // namespace taskleak
