// One walk of the interrupted stack from inside a signal handler, with
// cached register states against libunwind's own step, at several depths.
// Each iteration raises a signal at the bottom of a recursion and walks in
// the handler, so both figures include the signal's delivery and return.
//
//   bazel run -c opt --config=offline //runtime:libunwind_benchmark

#include <signal.h>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "benchmark/benchmark.h"
#include "taskleak/runtime/internal/unwind/libunwind.h"

namespace taskleak {
namespace internal {
namespace {

const LibUnwind* lib = nullptr;
StepMode mode = StepMode::kCached;
int frames_walked = 0;

void Walk(int, siginfo_t*, void* ucontext) {
  uintptr_t pcs[256];
  frames_walked = UnwindSignalContext(*lib, ucontext, pcs, 256, mode);
}

ABSL_ATTRIBUTE_NOINLINE int RaiseAtDepth(int depth, benchmark::State& state) {
  if (depth == 0) {
    for (auto _ : state) raise(SIGUSR2);
    return 0;
  }
  const int result = RaiseAtDepth(depth - 1, state) + 1;
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return result;
}

void BM_WalkInHandler(benchmark::State& state) {
  lib = LoadLibUnwind();
  if (lib == nullptr) {
    state.SkipWithError(LibUnwindError());
    return;
  }
  mode = state.range(0) == 0 ? StepMode::kLibunwindOnly : StepMode::kCached;
  struct sigaction action = {};
  action.sa_sigaction = &Walk;
  action.sa_flags = SA_SIGINFO;
  struct sigaction previous;
  sigaction(SIGUSR2, &action, &previous);
  RaiseAtDepth(static_cast<int>(state.range(1)), state);
  sigaction(SIGUSR2, &previous, nullptr);
  state.counters["frames"] = frames_walked;
  state.SetLabel(state.range(0) == 0 ? "libunwind step" : "cached");
}

BENCHMARK(BM_WalkInHandler)
    ->ArgNames({"cached", "depth"})
    ->ArgsProduct({{0, 1}, {0, 16, 48}});

}  // namespace
}  // namespace internal
}  // namespace taskleak
