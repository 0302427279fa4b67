#include "taskleak/leakcheck/leak_checker.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/config.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "taskleak/runtime/task_registry.h"
#include "taskleak/runtime/thread_list.h"

namespace taskleak {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// A one-shot gate on std primitives. Not absl::Notification: Debian's
// Abseil is not instrumented, so ThreadSanitizer would not see its
// synchronization, and a thread blocked in it never takes the signal that
// captures its stack (TSan delivers signals only inside calls it knows).
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// ThreadSanitizer starts its background thread with the program's first
// thread; tests that time a clean check start one first, so that it is not
// new to their snapshot (it would be ignored only after the grace).
void StartFirstThread() {
  std::thread([] {}).join();
}

// Threads that stay alive until the test releases them, so that one test's
// deliberate leak never spills into the next.
class Stragglers {
 public:
  ~Stragglers() { ReleaseAll(); }

  // Starts a thread named `name` (at most 15 characters) that blocks in
  // WaitInLeakedThread.
  // Returns once the thread has its name, as a pool's constructor would.
  __attribute__((noinline)) void StartLeakedThread(const std::string& name) {
    std::promise<void> named;
    threads_.emplace_back([this, name, &named] {
      pthread_setname_np(pthread_self(), name.c_str());
      named.set_value();
      WaitInLeakedThread(release_);
    });
    named.get_future().wait();
  }

  void ReleaseAll() {
    release_.Open();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  __attribute__((noinline)) static void WaitInLeakedThread(Gate& release) {
    release.Wait();
  }

 private:
  Gate release_;
  std::vector<std::thread> threads_;
};

// A thread started with clone() itself, as some runtimes do: the
// pthread_create interposer never sees it. It blocks every signal (it has
// no thread-local storage of its own, so no handler may run on it) and
// waits on a futex until released.
class RawCloneThread {
 public:
  RawCloneThread() : stack_(new char[kStackSize]) {
    const int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND |
                      CLONE_THREAD | CLONE_SYSVSEM | CLONE_CHILD_CLEARTID |
                      CLONE_PARENT_SETTID;
    tid_ = clone(&Run, stack_.get() + kStackSize, flags, this, &tid_, nullptr,
                 &tid_);
    EXPECT_GT(tid_, 0) << "clone failed";
    started_tid_ = tid_;
  }
  ~RawCloneThread() { Join(); }

  // Its tid, also after it ended.
  pid_t tid() const { return started_tid_; }

  void Join() {
    __atomic_store_n(&release_, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &release_, FUTEX_WAKE, 1, nullptr, nullptr, 0);
    // The kernel clears tid_ and wakes it as the thread ends.
    for (pid_t tid; (tid = __atomic_load_n(&tid_, __ATOMIC_ACQUIRE)) > 0;) {
      syscall(SYS_futex, &tid_, FUTEX_WAIT, tid, nullptr, nullptr, 0);
    }
  }

 private:
  static constexpr size_t kStackSize = 64 << 10;
  static int Run(void* self) {
    auto* thread = static_cast<RawCloneThread*>(self);
    sigset_t all;
    sigfillset(&all);
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, nullptr, _NSIG / 8);
    while (__atomic_load_n(&thread->release_, __ATOMIC_ACQUIRE) == 0) {
      syscall(SYS_futex, &thread->release_, FUTEX_WAIT, 0, nullptr, nullptr, 0);
    }
    return 0;
  }
  std::unique_ptr<char[]> stack_;
  pid_t tid_ = 0;
  pid_t started_tid_ = 0;
  int release_ = 0;
};

// For the tests with a RawCloneThread.
#ifdef ABSL_HAVE_THREAD_SANITIZER
#define SKIP_RAW_CLONE_UNDER_TSAN()                                       \
  GTEST_SKIP() << "ThreadSanitizer crashes in a thread started with "     \
                  "clone(): its instrumented code runs on a thread TSan " \
                  "never met"
#else
#define SKIP_RAW_CLONE_UNDER_TSAN() static_cast<void>(0)
#endif

LeakCheckOptions Fast() {
  LeakCheckOptions options;
  options.grace = absl::Milliseconds(100);
  return options;
}

LeakSnapshot Snapshot(const LeakCheckOptions& options) {
  absl::StatusOr<LeakSnapshot> snapshot = LeakSnapshot::Take(options);
  EXPECT_TRUE(snapshot.ok()) << snapshot.status();
  return *std::move(snapshot);
}

LeakReport Check(const LeakSnapshot& before, const LeakCheckOptions& options,
                 const std::string& scope = "Scope") {
  absl::StatusOr<LeakReport> report = FindLeaks(before, options, scope);
  EXPECT_TRUE(report.ok()) << report.status();
  return *std::move(report);
}

bool StackHas(const std::vector<SymbolizedFrame>& frames,
              const std::string& function) {
  for (const SymbolizedFrame& f : frames) {
    if (f.function.find(function) != std::string::npos) return true;
  }
  return false;
}

TEST(LeakCheckerTest, JoinedThreadsAreClean) {
  StartFirstThread();
  LeakCheckOptions options = Fast();
  LeakSnapshot before = Snapshot(options);
  std::thread([] {}).join();
  LeakReport report = Check(before, options);
  EXPECT_TRUE(report.clean()) << report.Text();
  EXPECT_EQ(report.Summary(), "");
  EXPECT_LT(report.waited, options.grace);
}

// The interposer's counters do not move for a thread started with clone();
// the kernel's thread count does, and the check then lists.
TEST(LeakCheckerTest, RawCloneThreadIsCaught) {
  SKIP_RAW_CLONE_UNDER_TSAN();
  StartFirstThread();
  LeakCheckOptions options = Fast();
  // Unrecorded and deaf to signals, it looks like a glibc helper thread.
  options.builtin_ignores = false;
  LeakSnapshot before = Snapshot(options);
  RawCloneThread raw;
  LeakReport report = Check(before, options);
  raw.Join();
  EXPECT_THAT(report.threads, SizeIs(1)) << report.Text();
}

TEST(LeakCheckerTest, JoinedRawCloneThreadIsClean) {
  SKIP_RAW_CLONE_UNDER_TSAN();
  StartFirstThread();
  LeakCheckOptions options = Fast();
  options.builtin_ignores = false;
  LeakSnapshot before = Snapshot(options);
  { RawCloneThread joined_at_scope_end; }
  LeakReport report = Check(before, options);
  EXPECT_TRUE(report.clean()) << report.Text();
}

// Neither the interposer's counters nor the kernel's count move when an
// unrecorded thread ends and another starts: the snapshot's start times of
// its unrecorded threads tell.
TEST(LeakCheckerTest, RawCloneThreadStartedAsAnotherEndsIsCaught) {
  SKIP_RAW_CLONE_UNDER_TSAN();
  StartFirstThread();
  LeakCheckOptions options = Fast();
  options.builtin_ignores = false;
  auto ending = std::make_unique<RawCloneThread>();
  const std::string task = absl::StrCat("/proc/self/task/", ending->tid());
  LeakSnapshot before = Snapshot(options);
  ending.reset();
  // Gone from the kernel's count too, so that the counts stay the same.
  for (int i = 0; i < 1000 && access(task.c_str(), F_OK) == 0; ++i) {
    usleep(1000);
  }
  RawCloneThread raw;
  LeakReport report = Check(before, options);
  raw.Join();
  ASSERT_THAT(report.threads, SizeIs(1)) << report.Text();
  EXPECT_EQ(report.threads[0].info.id.tid, raw.tid());
}

// The interposer's record answers for the new threads only while the counts
// add up: one started behind its back, beside recorded ones, is still found.
TEST(LeakCheckerTest, RawCloneThreadStartedBesideRecordedOnesIsCaught) {
  SKIP_RAW_CLONE_UNDER_TSAN();
  StartFirstThread();
  LeakCheckOptions options = Fast();
  options.builtin_ignores = false;
  LeakSnapshot before = Snapshot(options);
  Stragglers stragglers;
  stragglers.StartLeakedThread("recorded");
  RawCloneThread raw;
  LeakReport report = Check(before, options);
  raw.Join();
  stragglers.ReleaseAll();
  ASSERT_THAT(report.threads, SizeIs(2)) << report.Text();
  EXPECT_TRUE(report.threads[0].info.id.tid == raw.tid() ||
              report.threads[1].info.id.tid == raw.tid())
      << report.Text();
}

absl::flat_hash_set<pid_t> Listed() {
  absl::StatusOr<std::vector<pid_t>> tids = ListThreadIds();
  EXPECT_TRUE(tids.ok()) << tids.status();
  return tids.ok() ? absl::flat_hash_set<pid_t>(tids->begin(), tids->end())
                   : absl::flat_hash_set<pid_t>();
}

// A snapshot taken without listing, after threads came or went, holds every
// thread /proc lists. Any other tid in it belongs to a thread that has
// ended: one that lingered in /proc at an earlier listing the snapshot
// still shares (harmless; a newer thread on its tid counts as new).
void ExpectEveryLiveThread(const LeakSnapshot& snapshot) {
  const absl::flat_hash_set<pid_t> listed = Listed();
  for (pid_t tid : listed) {
    EXPECT_TRUE(snapshot.tids().contains(tid)) << "missing live thread " << tid;
  }
  for (pid_t tid : snapshot.tids()) {
    if (listed.contains(tid)) continue;
    const std::string task = absl::StrCat("/proc/self/task/", tid);
    EXPECT_NE(access(task.c_str(), F_OK), 0) << "thread " << tid;
  }
}

TEST(LeakCheckerTest, SnapshotAfterThreadsStartedHoldsWhatProcLists) {
  StartFirstThread();
  LeakCheckOptions options = Fast();
  Snapshot(options);
  Stragglers stragglers;
  for (int i = 0; i < 3; ++i) stragglers.StartLeakedThread("straggler");
  const absl::flat_hash_set<pid_t> with_stragglers = Listed();
  LeakSnapshot after = Snapshot(options);
  ExpectEveryLiveThread(after);
  stragglers.ReleaseAll();
  // Ended, and gone from /proc (a joined thread lingers there a moment): the
  // next snapshot leaves them out.
  for (int i = 0; i < 1000 && Listed().size() + 3 > with_stragglers.size();
       ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  LeakSnapshot later = Snapshot(options);
  ExpectEveryLiveThread(later);
  int gone = 0;
  for (pid_t tid : with_stragglers) gone += later.tids().contains(tid) ? 0 : 1;
  EXPECT_GE(gone, 3);
}

TEST(LeakCheckerTest, SnapshotSeesARawCloneThreadStartedBesideRecordedOnes) {
  SKIP_RAW_CLONE_UNDER_TSAN();
  StartFirstThread();
  LeakCheckOptions options = Fast();
  Snapshot(options);
  Stragglers stragglers;
  stragglers.StartLeakedThread("recorded");
  RawCloneThread raw;
  LeakSnapshot after = Snapshot(options);
  EXPECT_TRUE(after.tids().contains(raw.tid()));
  ExpectEveryLiveThread(after);
}

TEST(LeakCheckerTest, SnapshotsShareOneListingWhileNoThreadComesOrGoes) {
  StartFirstThread();
  LeakCheckOptions options = Fast();
  LeakSnapshot first = Snapshot(options);
  LeakSnapshot second = Snapshot(options);
  // The joined thread may still be leaving /proc.
  for (int i = 0; i < 1000 && &first.tids() != &second.tids(); ++i) {
    absl::SleepFor(absl::Milliseconds(1));
    first = second;
    second = Snapshot(options);
  }
  EXPECT_EQ(&first.tids(), &second.tids());
  std::thread([] {}).join();
  LeakSnapshot third = Snapshot(options);
  EXPECT_NE(&first.tids(), &third.tids());
}

TEST(LeakCheckerTest, LeakedThreadIsReportedWithStacksAfterTheGrace) {
  LeakCheckOptions options = Fast();
  LeakSnapshot before = Snapshot(options);
  Stragglers stragglers;
  stragglers.StartLeakedThread("leaky-worker");
  LeakReport report = Check(before, options, "PoolTest.Shutdown");
  stragglers.ReleaseAll();

  ASSERT_THAT(report.threads, SizeIs(1));
  const ThreadDump& t = report.threads[0];
  EXPECT_EQ(t.info.name, "leaky-worker");
  // How close to the grace the report comes is measured by the benchmark.
  EXPECT_GE(report.waited, options.grace);
  EXPECT_EQ(report.Summary(),
            "1 thread started by PoolTest.Shutdown is still running after "
            "100ms: leaky-worker");
  ASSERT_TRUE(t.stack_available) << t.stack_unavailable_reason;
  EXPECT_TRUE(StackHas(t.stack, "WaitInLeakedThread")) << report.Text();
  ASSERT_THAT(t.created_by, SizeIs(1));
  EXPECT_TRUE(StackHas(t.created_by[0].stack, "StartLeakedThread"))
      << report.Text();
  EXPECT_THAT(report.Text(), HasSubstr("leak_checker_test.cc:"));
  EXPECT_THAT(report.Json(), HasSubstr("\"name\":\"leaky-worker\""));
}

// The last look captures first and takes each thread's name, state and CPU
// time from its answer: the same report as from /proc.
TEST(LeakCheckerTest, LastLookDescribesThreadsFromTheirAnswers) {
  LeakCheckOptions options = Fast();
  options.grace = absl::ZeroDuration();
  LeakSnapshot before = Snapshot(options);
  Stragglers stragglers;
  stragglers.StartLeakedThread("answers-0");
  stragglers.StartLeakedThread("answers-1");
  // Settled in its wait, as /proc would say it is.
  absl::SleepFor(absl::Milliseconds(50));
  const absl::Time started = absl::Now();
  LeakReport report = Check(before, options, "PoolTest.Shutdown");
  ASSERT_THAT(report.threads, SizeIs(2)) << report.Text();
  for (const ThreadDump& t : report.threads) {
    absl::StatusOr<ThreadInfo> proc = ReadThreadInfo(t.info.id.tid);
    ASSERT_TRUE(proc.ok()) << proc.status();
    EXPECT_EQ(t.info.name, proc->name);
    EXPECT_EQ(t.info.state, 'S') << report.Text();
    EXPECT_LE(t.info.start_time, started);
    EXPECT_GT(t.info.start_time, started - absl::Seconds(5));
    EXPECT_LE(t.info.cpu_time, proc->cpu_time + absl::Milliseconds(20));
    ASSERT_TRUE(t.stack_available) << t.stack_unavailable_reason;
    EXPECT_TRUE(StackHas(t.stack, "WaitInLeakedThread")) << report.Text();
    ASSERT_THAT(t.created_by, SizeIs(1));
    EXPECT_TRUE(StackHas(t.created_by[0].stack, "StartLeakedThread"));
  }
  EXPECT_THAT(report.Text(), HasSubstr("(sleeping, age "));
}

// A thread in pause() returns from it when the capture signal's handler
// runs, and ends: it was alive when judged, and is still blamed.
TEST(LeakCheckerTest, ThreadThatTheCaptureEndsIsStillBlamed) {
#ifdef ABSL_HAVE_THREAD_SANITIZER
  GTEST_SKIP() << "ThreadSanitizer defers signals to a thread in pause(), "
                  "which then never returns from it";
#endif
  LeakCheckOptions options = Fast();
  options.grace = absl::ZeroDuration();
  LeakSnapshot before = Snapshot(options);
  std::atomic<bool> paused{false};
  auto returned = std::make_shared<std::atomic<bool>>(false);
  std::thread pausing([&paused, returned] {
    pthread_setname_np(pthread_self(), "pausing");
    paused.store(true);
    pause();
    returned->store(true);
  });
  while (!paused.load()) absl::SleepFor(absl::Milliseconds(1));
  absl::SleepFor(absl::Milliseconds(50));
  LeakReport report = Check(before, options, "PauseTest.Leaks");
  // The capture's signal ends its pause().
  for (int i = 0; i < 500 && !returned->load(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(returned->load()) << "pause() never returned";
  if (returned->load()) {
    pausing.join();
  } else {
    pausing.detach();
  }
  ASSERT_THAT(report.threads, SizeIs(1)) << report.Text();
  EXPECT_EQ(report.threads[0].info.name, "pausing");
  ASSERT_THAT(report.threads[0].created_by, SizeIs(1)) << report.Text();
}

TEST(LeakCheckerTest, ThreadThatEndsWithinTheGraceIsClean) {
  StartFirstThread();
  LeakCheckOptions options;
  options.grace = absl::Seconds(2);
  LeakSnapshot before = Snapshot(options);
  std::thread late([] { absl::SleepFor(absl::Milliseconds(50)); });
  late.detach();
  LeakReport report = Check(before, options);
  EXPECT_TRUE(report.clean()) << report.Text();
  EXPECT_LT(report.waited, absl::Seconds(1));
}

// glibc's SIGEV_THREAD timer helper starts behind pthread_create's back,
// blocks every signal and lives as long as the process: the built-in rule
// accepts it, and the check must not wait for it. A thread started and
// joined in the test makes the check list threads (nothing is listed
// unless pthread_create ran).
TEST(LeakCheckerTest, ThreadAcceptedByARuleIsNotWaitedFor) {
  StartFirstThread();
  LeakCheckOptions options;
  options.grace = absl::Seconds(20);
  absl::StatusOr<LeakSnapshot> before = LeakSnapshot::Take(options);
  ASSERT_TRUE(before.ok()) << before.status();
  sigevent event = {};
  event.sigev_notify = SIGEV_THREAD;
  event.sigev_notify_function = [](sigval) {};
  timer_t timer;
  ASSERT_EQ(timer_create(CLOCK_MONOTONIC, &event, &timer), 0);
  std::thread([] {}).join();
  absl::StatusOr<LeakReport> report = FindLeaks(*before, options, "scope");
  timer_delete(timer);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->clean()) << report->Text();
  // Waiting for the helper would take the whole grace.
  EXPECT_LT(report->waited, options.grace / 2);
}

TEST(LeakCheckerTest, ToleranceAllowsThatManyThreads) {
  LeakCheckOptions options = Fast();
  options.tolerance = 1;
  LeakSnapshot before = Snapshot(options);
  Stragglers stragglers;
  stragglers.StartLeakedThread("tolerated-1");
  EXPECT_TRUE(Check(before, options).clean());
  stragglers.StartLeakedThread("tolerated-2");
  LeakReport report = Check(before, options);
  EXPECT_THAT(report.threads, SizeIs(2)) << report.Text();
}

TEST(LeakCheckerTest, IgnoreRulesLeaveMatchingThreadsAlone) {
  LeakCheckOptions options = Fast();
  LeakSnapshot before = Snapshot(options);
  Stragglers stragglers;
  stragglers.StartLeakedThread("metrics-export");
  for (IgnoreRule rule : {IgnoreThreadName("metrics-.*"),
                          IgnoreAnyFunction("Stragglers::WaitInLeakedThread"),
                          IgnoreCreatedBy("Stragglers::StartLeakedThread"),
                          IgnoreIf("exporters", [](const ThreadDump& t) {
                            return t.info.name == "metrics-export";
                          })}) {
    options.ignore = {rule};
    LeakReport report = Check(before, options);
    EXPECT_TRUE(report.clean()) << rule.Describe() << "\n" << report.Text();
  }
  options.ignore = {IgnoreThreadName("other-.*")};
  EXPECT_FALSE(Check(before, options).clean());
}

TEST(LeakCheckerTest, RuleToleranceReportsThreadsBeyondIt) {
  LeakCheckOptions options = Fast();
  options.ignore = {IgnoreThreadName("exporter-.*").AllowUpTo(1)};
  LeakSnapshot before = Snapshot(options);
  Stragglers stragglers;
  stragglers.StartLeakedThread("exporter-a");
  EXPECT_TRUE(Check(before, options).clean());
  stragglers.StartLeakedThread("exporter-b");
  EXPECT_THAT(Check(before, options).threads, SizeIs(1));
}

// A pool started lazily by std::call_once lives as long as the process.
class LazyPool {
 public:
  static void EnsureStarted(Stragglers& stragglers) {
    static std::once_flag once;
    std::call_once(once, [&] { stragglers.StartLeakedThread("lazy-pool"); });
  }
};

TEST(LeakCheckerTest, SingletonThreadsAreNotedNotBlamedUnlessStrict) {
  LeakCheckOptions options = Fast();
  LeakSnapshot before = Snapshot(options);
  Stragglers stragglers;
  LazyPool::EnsureStarted(stragglers);
  LeakReport report = Check(before, options);
  EXPECT_TRUE(report.clean()) << report.Text();
  ASSERT_THAT(report.notes, SizeIs(1));
  EXPECT_THAT(report.notes[0], HasSubstr("lazy-pool"));
  EXPECT_THAT(report.notes[0], HasSubstr("singleton"));

  options.strict_singletons = true;
  report = Check(before, options);
  EXPECT_THAT(report.threads, SizeIs(1));
  EXPECT_THAT(report.notes, IsEmpty());
}

TEST(LeakCheckerTest, ThreadLeakedEarlierIsBlamedOnlyOnItsOwnScope) {
  LeakCheckOptions options = Fast();
  Stragglers stragglers;
  LeakSnapshot first = Snapshot(options);
  stragglers.StartLeakedThread("first-leak");
  EXPECT_THAT(Check(first, options, "A").threads, SizeIs(1));
  LeakSnapshot second = Snapshot(options);
  LeakReport report = Check(second, options, "B");
  EXPECT_TRUE(report.clean()) << report.Text();
}

pid_t CurrentTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// Makes `tid` the next tid the kernel hands out (unless another process
// takes it first), through the pid namespace's last pid. Needs
// CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE; returns errno on failure.
int ChooseNextTid(pid_t tid) {
  FILE* f = fopen("/proc/sys/kernel/ns_last_pid", "w");
  if (f == nullptr) return errno;
  const bool written = fprintf(f, "%d", tid - 1) > 0;
  const int error = fclose(f) == 0 && written ? 0 : (errno != 0 ? errno : EIO);
  return error;
}

// A thread that reports its tid, then waits until it is ended.
class WaitingThread {
 public:
  WaitingThread()
      : thread_([this] {
          tid_ = CurrentTid();
          end_.Wait();
        }) {
    while (tid_ == 0) std::this_thread::yield();
  }
  ~WaitingThread() { End(); }
  void End() {
    if (!thread_.joinable()) return;
    end_.Open();
    thread_.join();
  }
  pid_t tid() const { return tid_; }

 private:
  Gate end_;
  std::atomic<pid_t> tid_{0};
  std::thread thread_;  // Last: starts after the members it uses.
};

// A Thread alive at the snapshot ends, and a leaked one gets its tid: the
// leak must not pass for the old thread. Thread starts in its constructor,
// ends in its destructor and has tid().
template <typename Thread>
void ExpectLeakOnReusedTidReported(const LeakCheckOptions& options) {
  // Another process may take the tid between choosing and creating.
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto first = std::make_unique<Thread>();
    const pid_t tid = first->tid();
    LeakSnapshot before = Snapshot(options);
    ASSERT_TRUE(before.tids().contains(tid));
    first.reset();
    // A joined thread's tid is free only once the kernel has reaped it, and
    // its number is released a little later still (after an RCU grace
    // period).
    const std::string task = absl::StrCat("/proc/self/task/", tid);
    for (int i = 0; i < 1000 && access(task.c_str(), F_OK) == 0; ++i) {
      usleep(1000);
    }
    usleep(50 * 1000);
    if (const int error = ChooseNextTid(tid); error != 0) {
      GTEST_SKIP() << "cannot choose the next tid (writing "
                      "/proc/sys/kernel/ns_last_pid: "
                   << strerror(error) << "), so cannot force tid reuse";
    }
    Thread leaked;
    if (leaked.tid() != tid) continue;
    LeakReport report = Check(before, options);
    ASSERT_THAT(report.threads, SizeIs(1)) << report.Text();
    EXPECT_EQ(report.threads[0].info.id.tid, tid);
    return;
  }
  GTEST_SKIP() << "other processes took the chosen tid 20 times in a row";
}

TEST(LeakCheckerTest, LeakedThreadReusingAnEndedThreadsTidIsReported) {
  StartFirstThread();
  ExpectLeakOnReusedTidReported<WaitingThread>(Fast());
}

// The same for threads the interposer did not start: told apart by their
// start time.
TEST(LeakCheckerTest, RawCloneThreadReusingAnEndedOnesTidIsReported) {
  SKIP_RAW_CLONE_UNDER_TSAN();
  StartFirstThread();
  LeakCheckOptions options = Fast();
  // Unrecorded and deaf to signals, it looks like a glibc helper thread.
  options.builtin_ignores = false;
  ExpectLeakOnReusedTidReported<RawCloneThread>(options);
}

__attribute__((noinline)) TaskHandle ScheduleTimer() {
  TaskOptions options;
  options.capture_stack = true;
  return RegisterTask("timer", "refresh-cache", options);
}

TEST(LeakCheckerTest, LiveTaskIsReportedWithItsCreationStack) {
  LeakCheckOptions options = Fast();
  LeakSnapshot before = Snapshot(options);
  TaskHandle finished = RegisterTask("timer", "cancelled");
  finished.Reset();
  TaskHandle leaked = ScheduleTimer();
  LeakReport report = Check(before, options, "CacheTest.Refresh");
  ASSERT_THAT(report.tasks, SizeIs(1));
  EXPECT_EQ(report.tasks[0].info.name, "refresh-cache");
  EXPECT_EQ(report.tasks[0].info.kind, "timer");
  EXPECT_TRUE(StackHas(report.tasks[0].creation_stack, "ScheduleTimer"))
      << report.Text();
  EXPECT_THAT(report.Summary(), HasSubstr("1 task registered by "
                                          "CacheTest.Refresh is still live"));
  leaked.Reset();
  EXPECT_TRUE(Check(before, options).clean());
}

TEST(LeakCheckerTest, OpenDescriptorIsReportedOnlyWhenAsked) {
  LeakCheckOptions options = Fast();
  options.check_fds = true;
  LeakSnapshot before = Snapshot(options);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  LeakReport report = Check(before, options);
  ASSERT_THAT(report.fds, SizeIs(2));
  EXPECT_THAT(report.fds[0].target, HasSubstr("pipe:["));
  EXPECT_THAT(report.Summary(), HasSubstr("2 file descriptors"));
  options.check_fds = false;
  EXPECT_TRUE(Check(before, options).clean());
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace taskleak
