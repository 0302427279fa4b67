// Cost of symbolizing a captured stack, per lookup address.
//
//   bazel run -c opt --config=offline //runtime:symbolizer_benchmark
//
// The stack: 13 frames of Recurse (this binary is built with -g), then
// Google Benchmark's frames, main and libc's start-up code: about 24
// addresses in two modules. "per_frame" is the time per lookup address.

#include <dlfcn.h>

#include <cstdint>
#include <vector>

#include "benchmark/benchmark.h"
#include "taskleak/runtime/internal/unwind/libunwind.h"
#include "taskleak/runtime/symbolizer.h"

namespace taskleak {
namespace {

__attribute__((noinline)) int Recurse(int depth, uintptr_t* pcs, int max) {
  if (depth == 0) return internal::CaptureCurrentStack(pcs, max, 0);
  const int n = Recurse(depth - 1, pcs, max);
  benchmark::DoNotOptimize(n);
  return n;
}

std::vector<uintptr_t> CapturedStack() {
  uintptr_t pcs[64];
  const int n = Recurse(12, pcs, 64);
  return std::vector<uintptr_t>(pcs, pcs + n);
}

void SetPerFrame(benchmark::State& state, size_t frames) {
  state.counters["per_frame"] =
      benchmark::Counter(static_cast<double>(frames),
                         benchmark::Counter::kIsIterationInvariantRate |
                             benchmark::Counter::kInvert);
  state.counters["frames"] = static_cast<double>(frames);
}

// Addresses in the same modules as the stack but not on it, to load the
// modules' debug info without looking up the stack's own addresses.
std::vector<uintptr_t> NeighbourAddresses() {
  return {reinterpret_cast<uintptr_t>(&CapturedStack) + 1,
          reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "getpid")) + 1,
          reinterpret_cast<uintptr_t>(&benchmark::Initialize) + 1};
}

// Everything from scratch: load libdw (first iteration only), read the module
// list, open the ELF files and their debug info, then look up each address.
void BM_SymbolizeCold(benchmark::State& state) {
  const std::vector<uintptr_t> pcs = CapturedStack();
  for (auto _ : state) {
    Symbolizer symbolizer;
    benchmark::DoNotOptimize(symbolizer.SymbolizeStack(pcs));
  }
  SetPerFrame(state, pcs.size());
}
BENCHMARK(BM_SymbolizeCold)->UseRealTime()->Unit(benchmark::kMillisecond);

// The same, for the addresses in this binary only: no libc, whose separate
// debug file (libc6-dbg, compressed) dominates the cold figure when present.
void BM_SymbolizeColdThisBinaryOnly(benchmark::State& state) {
  std::vector<uintptr_t> pcs;
  Dl_info self;
  dladdr(reinterpret_cast<void*>(&Recurse), &self);
  for (uintptr_t pc : CapturedStack()) {
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(pc), &info) != 0 &&
        info.dli_fbase == self.dli_fbase) {
      pcs.push_back(pc);
    }
  }
  for (auto _ : state) {
    Symbolizer symbolizer;
    benchmark::DoNotOptimize(symbolizer.SymbolizeStack(pcs));
  }
  SetPerFrame(state, pcs.size());
}
BENCHMARK(BM_SymbolizeColdThisBinaryOnly)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// First lookup of each address in a symbolizer whose modules are already
// open: the cost of a new stack in a long-lived symbolizer.
void BM_SymbolizeFirstLookup(benchmark::State& state) {
  const std::vector<uintptr_t> pcs = CapturedStack();
  for (auto _ : state) {
    state.PauseTiming();
    auto symbolizer = std::make_unique<Symbolizer>();
    symbolizer->SymbolizeStack(NeighbourAddresses());
    state.ResumeTiming();
    benchmark::DoNotOptimize(symbolizer->SymbolizeStack(pcs));
    state.PauseTiming();
    symbolizer.reset();
    state.ResumeTiming();
  }
  SetPerFrame(state, pcs.size());
}
BENCHMARK(BM_SymbolizeFirstLookup)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Every address already cached.
void BM_SymbolizeWarm(benchmark::State& state) {
  const std::vector<uintptr_t> pcs = CapturedStack();
  Symbolizer symbolizer;
  symbolizer.SymbolizeStack(pcs);
  for (auto _ : state) {
    benchmark::DoNotOptimize(symbolizer.SymbolizeStack(pcs));
  }
  SetPerFrame(state, pcs.size());
}
BENCHMARK(BM_SymbolizeWarm)->UseRealTime()->Unit(benchmark::kMicrosecond);

// The fallback without libdw (dladdr), from scratch.
void BM_SymbolizeColdWithoutLibdw(benchmark::State& state) {
  const std::vector<uintptr_t> pcs = CapturedStack();
  SymbolizerOptions options;
  options.use_libdw = false;
  for (auto _ : state) {
    Symbolizer symbolizer(options);
    benchmark::DoNotOptimize(symbolizer.SymbolizeStack(pcs));
  }
  SetPerFrame(state, pcs.size());
}
BENCHMARK(BM_SymbolizeColdWithoutLibdw)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace taskleak
