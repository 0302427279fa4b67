// Two tests that each leak LEAKY_SUITE_THREADS threads (default 1000),
// parked at call depths 5..20 (16 distinct stacks), and a third that only
// marks when it starts. Each test prints CLOCK_MONOTONIC marks:
//   mark A_start=NS  A_end=NS  B_start=NS  B_end=NS  C_start=NS
// so B_start - A_end is the first (cold) leak report of the process and
// C_start - B_end the second (warm) one; under --taskleak_mode=off both are
// GoogleTest's own gap between tests. With LEAKY_SUITE_PEERS=1 the first
// test also times `eu-stack -p` and `gdb ... thread apply all bt` on its
// own process once its threads are parked:
//   peer eu_stack_ms=MS  peer gdb_ms=MS  (-1 if the peer failed)
// and, first, the floor under any signal-based capture of those threads:
// a real-time signal to each with a handler that only counts its answer,
// until all have answered (median of 7 rounds):
//   peer signal_floor_ms=MS  (-1 if no real-time signal was free)
// With LEAKY_SUITE_HANG=1 the first test hangs once its threads are parked,
// for a time limit to end it with a dump of every thread.

#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "gtest/gtest.h"

extern char** environ;

namespace {

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void Mark(const char* name) {
  printf("mark %s=%lld\n", name, static_cast<long long>(NowNs()));
  fflush(stdout);
}

int ThreadCount() {
  const char* n = getenv("LEAKY_SUITE_THREADS");
  return n != nullptr ? atoi(n) : 1000;
}

// Never signalled: the threads stay parked until the process ends.
struct Parking {
  pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t parked_cv = PTHREAD_COND_INITIALIZER;
  pthread_cond_t never = PTHREAD_COND_INITIALIZER;
  int parked = 0;
  std::vector<pid_t> tids;
};
Parking* const parking = new Parking;

ABSL_ATTRIBUTE_NOINLINE void ParkForever() {
  pthread_mutex_lock(&parking->mu);
  ++parking->parked;
  parking->tids.push_back(static_cast<pid_t>(syscall(SYS_gettid)));
  pthread_cond_broadcast(&parking->parked_cv);
  for (;;) pthread_cond_wait(&parking->never, &parking->mu);
}

ABSL_ATTRIBUTE_NOINLINE int Descend(int depth) {
  if (depth == 0) {
    ParkForever();
    return 0;
  }
  const int result = Descend(depth - 1) + 1;
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return result;
}

void* ThreadMain(void* depth) {
  Descend(static_cast<int>(reinterpret_cast<intptr_t>(depth)));
  return nullptr;
}

// Starts `n` more threads and returns once all of them are parked.
void LeakParkedThreads(int n) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 128 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_mutex_lock(&parking->mu);
  const int target = parking->parked + n;
  pthread_mutex_unlock(&parking->mu);
  for (int i = 0; i < n; ++i) {
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, &attr, ThreadMain,
                             reinterpret_cast<void*>(intptr_t{5 + i % 16})),
              0);
  }
  pthread_attr_destroy(&attr);
  pthread_mutex_lock(&parking->mu);
  while (parking->parked < target) {
    pthread_cond_wait(&parking->parked_cv, &parking->mu);
  }
  pthread_mutex_unlock(&parking->mu);
  // The last ones to park are still on their way into the kernel.
  usleep(20 * 1000);
}

// Runs `argv` with output to /dev/null; milliseconds, or -1 if it failed.
double TimePeer(std::vector<std::string> argv) {
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  const int64_t start = NowNs();
  pid_t pid;
  const int rc =
      posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  const double ms = (NowNs() - start) / 1e6;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? ms : -1;
}

// Answers still due in a SignalFloorMs round; the futex word it waits on.
std::atomic<int> floor_answers_due{0};
static_assert(sizeof(std::atomic<int>) == sizeof(int), "futex word");

void CountAnswer(int, siginfo_t*, void*) {
  const int saved_errno = errno;
  if (floor_answers_due.fetch_sub(1) == 1) {
    syscall(SYS_futex, &floor_answers_due, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
  }
  errno = saved_errno;
}

// The median over 7 rounds of signalling every thread in `tids` and waiting
// until each has run a handler that does nothing but count: what the kernel
// alone costs a capture by signals. -1 if no real-time signal is free.
double SignalFloorMs(const std::vector<pid_t>& tids) {
  int signal = 0;
  for (int s = SIGRTMIN; s <= SIGRTMAX && signal == 0; ++s) {
    struct sigaction current;
    if (sigaction(s, nullptr, &current) == 0 &&
        (current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == SIG_DFL) {
      signal = s;
    }
  }
  if (signal == 0) return -1;
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  // As a capture's: the same system call, siginfo and flags.
  action.sa_sigaction = &CountAnswer;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaction(signal, &action, nullptr);
  const pid_t pid = getpid();
  siginfo_t info;
  memset(&info, 0, sizeof(info));
  info.si_signo = signal;
  info.si_code = SI_QUEUE;
  info.si_pid = pid;
  info.si_uid = getuid();
  std::vector<double> rounds;
  for (int round = 0; round < 7; ++round) {
    floor_answers_due.store(static_cast<int>(tids.size()));
    const int64_t start = NowNs();
    for (pid_t tid : tids) {
      syscall(SYS_rt_tgsigqueueinfo, pid, tid, signal, &info);
    }
    for (int due; (due = floor_answers_due.load()) != 0;) {
      syscall(SYS_futex, &floor_answers_due, FUTEX_WAIT_PRIVATE, due, nullptr,
              nullptr, 0);
    }
    rounds.push_back((NowNs() - start) / 1e6);
  }
  action.sa_flags = 0;
  action.sa_handler = SIG_DFL;
  sigaction(signal, &action, nullptr);
  std::sort(rounds.begin(), rounds.end());
  return rounds[rounds.size() / 2];
}

void TimePeersOnThisProcess() {
  pthread_mutex_lock(&parking->mu);
  const std::vector<pid_t> tids = parking->tids;
  pthread_mutex_unlock(&parking->mu);
  printf("peer signal_floor_ms=%.2f\n", SignalFloorMs(tids));
  // Peers attach with ptrace; allow it where Yama restricts it.
  prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY);
  const std::string pid = std::to_string(getpid());
  printf("peer eu_stack_ms=%.2f\n", TimePeer({"eu-stack", "-p", pid}));
  printf("peer gdb_ms=%.2f\n",
         TimePeer({"gdb", "-p", pid, "-batch", "-ex", "thread apply all bt"}));
  fflush(stdout);
}

TEST(LeakySuite, A_LeaksParkedThreads) {
  Mark("A_start");
  LeakParkedThreads(ThreadCount());
  // A hung test: the time limit (--taskleak_test_timeout) ends the process.
  if (getenv("LEAKY_SUITE_HANG") != nullptr) {
    for (;;) pause();
  }
  if (getenv("LEAKY_SUITE_PEERS") != nullptr) TimePeersOnThisProcess();
  Mark("A_end");
}

TEST(LeakySuite, B_LeaksTheSameStacksAgain) {
  Mark("B_start");
  LeakParkedThreads(ThreadCount());
  Mark("B_end");
}

TEST(LeakySuite, C_Follows) { Mark("C_start"); }

}  // namespace
