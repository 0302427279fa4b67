// 2,000 trivial tests, linked once with //testing:gtest_main and once with
// GoogleTest's own. With CLEAN_SUITE_BACKGROUND_THREADS=N in the environment
// it first parks N threads (started before main, as a server's pool would
// be), so the per-test cost can be measured against the number of threads
// that merely exist. The last test prints how long the tests after the first
// took, wall and CPU, leaving out start-up and the first snapshot (which may
// list every thread once):
//   clean_suite: 1999 tests after the first: wall_us=... cpu_us=...

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "gtest/gtest.h"

namespace {

void* Park(void*) {
  for (;;) pause();
  return nullptr;
}

// Runs before main: the threads exist before the first test starts.
const int kBackgroundThreads = [] {
  const char* env = getenv("CLEAN_SUITE_BACKGROUND_THREADS");
  const int n = env == nullptr ? 0 : atoi(env);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 << 10);
  for (int i = 0; i < n; ++i) {
    pthread_t thread;
    if (pthread_create(&thread, &attr, Park, nullptr) != 0) {
      fprintf(stderr, "clean_suite: cannot start background thread %d\n", i);
      abort();
    }
    pthread_detach(thread);
  }
  pthread_attr_destroy(&attr);
  return n;
}();

constexpr int kTests = 2000;

double CpuMicros() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
         usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
}

std::chrono::steady_clock::time_point first_wall;
double first_cpu;

class Trivial : public testing::TestWithParam<int> {};

TEST_P(Trivial, Passes) {
  EXPECT_GE(GetParam(), 0);
  if (GetParam() == 0) {
    first_wall = std::chrono::steady_clock::now();
    first_cpu = CpuMicros();
  } else if (GetParam() == kTests - 1) {
    printf("clean_suite: %d tests after the first: wall_us=%.0f cpu_us=%.0f\n",
           kTests - 1,
           std::chrono::duration<double, std::micro>(
               std::chrono::steady_clock::now() - first_wall)
               .count(),
           CpuMicros() - first_cpu);
  }
}

INSTANTIATE_TEST_SUITE_P(TwoThousand, Trivial, testing::Range(0, kTests));

}  // namespace
