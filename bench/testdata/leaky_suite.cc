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
// With LEAKY_SUITE_HANG=1 the first test hangs once its threads are parked,
// for a time limit to end it with a dump of every thread.

#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
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
};
Parking* const parking = new Parking;

ABSL_ATTRIBUTE_NOINLINE void ParkForever() {
  pthread_mutex_lock(&parking->mu);
  ++parking->parked;
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

void TimePeersOnThisProcess() {
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
