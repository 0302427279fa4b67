// Cost the pthread_create interposer adds to starting a thread.
//
//   bazel run -c opt --config=offline //runtime:thread_origin_benchmark
//   bazel run -c opt --config=offline
//   //runtime:thread_origin_baseline_benchmark
//
// Both are built from this file; the baseline defines
// TASKLEAK_THREAD_ORIGIN_BASELINE and does not link //runtime:thread_origin,
// so its threads start through glibc's pthread_create directly.

#include <dlfcn.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"

#ifndef TASKLEAK_THREAD_ORIGIN_BASELINE
#include "taskleak/runtime/thread_origin.h"
#endif

namespace taskleak {
namespace {

bool CheckSetup(benchmark::State& state) {
#ifndef TASKLEAK_THREAD_ORIGIN_BASELINE
  if (!ThreadOriginsRecorded()) {
    state.SkipWithError("the pthread_create interposer is not active");
    return false;
  }
  state.SetLabel("with interposer");
#else
  state.SetLabel("baseline");
#endif
  return true;
}

void BM_StdThreadCreateJoin(benchmark::State& state) {
  if (!CheckSetup(state)) return;
  for (auto _ : state) {
    std::thread([] {}).join();
  }
}
BENCHMARK(BM_StdThreadCreateJoin)->UseRealTime();

void* Nothing(void*) { return nullptr; }

void BM_PthreadCreateJoin(benchmark::State& state) {
  if (!CheckSetup(state)) return;
  for (auto _ : state) {
    pthread_t thread;
    pthread_create(&thread, nullptr, Nothing, nullptr);
    pthread_join(thread, nullptr);
  }
}
BENCHMARK(BM_PthreadCreateJoin)->UseRealTime();

// glibc's pthread_create called directly, bypassing any interposer: the
// baseline within the same process.
void BM_GlibcPthreadCreateJoin(benchmark::State& state) {
  using CreateFn =
      int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
  auto glibc_create =
      reinterpret_cast<CreateFn>(dlsym(RTLD_NEXT, "pthread_create"));
  if (glibc_create == nullptr) {
    state.SkipWithError("cannot find glibc's pthread_create");
    return;
  }
  for (auto _ : state) {
    pthread_t thread;
    glibc_create(&thread, nullptr, Nothing, nullptr);
    pthread_join(thread, nullptr);
  }
}
BENCHMARK(BM_GlibcPthreadCreateJoin)->UseRealTime();

#ifndef TASKLEAK_THREAD_ORIGIN_BASELINE
// A lookup while `n` other recorded threads are alive.
void BM_CreationOf(benchmark::State& state) {
  std::vector<std::thread> threads;
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  for (int i = 0; i < state.range(0); ++i) {
    threads.emplace_back([&] {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return released; });
    });
  }
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  for (auto _ : state) {
    benchmark::DoNotOptimize(CreationOf(tid));
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
  }
  cv.notify_all();
  for (std::thread& t : threads) t.join();
}
BENCHMARK(BM_CreationOf)->Arg(10)->Arg(1000);
#endif

}  // namespace
}  // namespace taskleak
