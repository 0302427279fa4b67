#include "taskleak/runtime/internal/capture/thread_self_report.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "taskleak/runtime/internal/proc/proc_stat.h"

namespace taskleak {
namespace internal {
namespace {

// The handler's answer, written before `g_answered` is set.
ThreadSelfReport g_report;
std::atomic<bool> g_answered{false};

void Answer(int, siginfo_t*, void* ucontext) {
  ReportSelf(ucontext, &g_report);
  g_answered.store(true, std::memory_order_release);
}

// Asks thread `tid` for its report through a real-time signal, as a
// capture does, and waits for the answer.
ThreadSelfReport AskForReport(pid_t tid) {
  const int signal = SIGRTMIN + 3;
  struct sigaction action = {};
  action.sa_sigaction = &Answer;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  EXPECT_EQ(sigaction(signal, &action, nullptr), 0);
  g_answered.store(false);
  EXPECT_EQ(syscall(SYS_tgkill, getpid(), tid, signal), 0);
  while (!g_answered.load(std::memory_order_acquire)) sched_yield();
  return g_report;
}

// What /proc says the thread is doing: the test waits until it says
// `state` so that the report is compared with a settled thread.
void AwaitProcState(pid_t tid, char state) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/stat";
  for (int i = 0; i < 5000; ++i) {
    std::ifstream file(path);
    std::string line;
    std::getline(file, line);
    absl::StatusOr<ProcStat> stat = ParseProcStat(line);
    ASSERT_TRUE(stat.ok()) << stat.status();
    if (stat->state == state) return;
    usleep(200);
  }
  FAIL() << "thread " << tid << " never reached state " << state;
}

// A named thread that runs `body` until told to stop.
class Subject {
 public:
  template <typename Body>
  explicit Subject(const char* name, Body body)
      : thread_([this, name, body] {
          pthread_setname_np(pthread_self(), name);
          tid_.store(static_cast<pid_t>(syscall(SYS_gettid)));
          body(stop_);
        }) {
    while (tid_.load() == 0) sched_yield();
  }
  ~Subject() {
    stop_.store(true);
    thread_.join();
  }
  pid_t tid() const { return tid_.load(); }
  std::atomic<bool>& stop() { return stop_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<pid_t> tid_{0};
  std::thread thread_;
};

TEST(ThreadSelfReportTest, ThreadAsleepOnAFutexSaysSleepingWithItsName) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Subject parked("parked-one", [&](std::atomic<bool>&) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  });
  AwaitProcState(parked.tid(), 'S');
  const ThreadSelfReport report = AskForReport(parked.tid());
  EXPECT_EQ(InterruptedStates().Of(report), 'S');
  EXPECT_STREQ(report.name, "parked-one");
  EXPECT_GE(report.cpu_nanos, 0);
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
}

TEST(ThreadSelfReportTest, ThreadInASleepThatIsNotRestartedSaysSleeping) {
  Subject napping("napping", [](std::atomic<bool>& stop) {
    while (!stop.load()) {
      timespec nap = {0, 100 * 1000 * 1000};
      nanosleep(&nap, nullptr);  // returns EINTR at the signal
    }
  });
  AwaitProcState(napping.tid(), 'S');
  EXPECT_EQ(InterruptedStates().Of(AskForReport(napping.tid())), 'S');
}

TEST(ThreadSelfReportTest, SpinningThreadSaysRunningAndHasSpentCpu) {
  Subject spinner("spinner", [](std::atomic<bool>& stop) {
    volatile uint64_t n = 0;
    while (!stop.load(std::memory_order_relaxed)) n = n + 1;
  });
  AwaitProcState(spinner.tid(), 'R');
  usleep(20 * 1000);
  const ThreadSelfReport report = AskForReport(spinner.tid());
  EXPECT_EQ(InterruptedStates().Of(report), 'R');
  EXPECT_STREQ(report.name, "spinner");
  EXPECT_GT(report.cpu_nanos, 1000 * 1000);
}

TEST(ThreadSelfReportTest, NoContextCannotTell) {
  ThreadSelfReport report;
  ReportSelf(nullptr, &report);
  EXPECT_EQ(InterruptedStates().Of(report), '?');
  EXPECT_GT(strlen(report.name), 0u);
}

// Threads parked alike share an address: the second is answered from the
// first's reading, and a different result at the same address is not.
TEST(ThreadSelfReportTest, StatesAtOneAddressAreReadOnce) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  auto park = [&](std::atomic<bool>&) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  };
  Subject first("first", park);
  Subject second("second", park);
  AwaitProcState(first.tid(), 'S');
  AwaitProcState(second.tid(), 'S');
  InterruptedStates states;
  const ThreadSelfReport a = AskForReport(first.tid());
  const ThreadSelfReport b = AskForReport(second.tid());
  EXPECT_EQ(a.pc, b.pc);
  EXPECT_EQ(states.Of(a), 'S');
  EXPECT_EQ(states.Of(b), 'S');
  // An address that holds no system call, with and without -EINTR.
  ThreadSelfReport code = a;
  code.pc = reinterpret_cast<uintptr_t>(&AskForReport);
  code.result = 0;
  EXPECT_EQ(states.Of(code), 'R');
  code.result = -EINTR;
  EXPECT_EQ(states.Of(code), 'R');
  ThreadSelfReport unmapped = a;
  unmapped.pc = 8;
  EXPECT_EQ(states.Of(unmapped), '?');
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
