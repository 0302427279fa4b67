// The hooks taskleak defines for the sanitizer runtimes: ThreadSanitizer's
// __tsan_on_report, which copies each report into preallocated slots for the
// race check to read later, and LeakSanitizer's default options. They must
// be defined in the executable (the library is linkstatic): a definition in
// a shared library loses to the runtime's own weak one.

#ifndef TASKLEAK_SANITIZERS_INTERNAL_SANITIZER_HOOKS_H_
#define TASKLEAK_SANITIZERS_INTERNAL_SANITIZER_HOOKS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace taskleak {
namespace internal {

inline constexpr int kTsanMaxFrames = 48;
inline constexpr int kTsanMaxNameSize = 64;

// Return addresses, innermost first, as TSan recorded them.
struct TsanRawStack {
  int size = 0;
  uintptr_t pcs[kTsanMaxFrames] = {};
};

struct TsanRawAccess {
  int tid = 0;  // TSan's thread number: 0 is the main thread
  uintptr_t address = 0;
  int size = 0;
  bool write = false;
  bool atomic = false;
  TsanRawStack stack;
};

struct TsanRawThread {
  int tid = 0;
  uint64_t os_tid = 0;
  bool running = false;
  int parent_tid = 0;
  char name[kTsanMaxNameSize] = {};
  TsanRawStack created_at;
};

struct TsanRawLocation {
  char type[16] = {};  // "heap", "global", "stack", "tls", "fd"
  uintptr_t global_address = 0;
  uintptr_t heap_start = 0;
  uintptr_t size = 0;
  int tid = 0;
  int fd = -1;
  TsanRawStack stack;
};

// One report, copied out of TSan inside __tsan_on_report. Lists longer than
// the arrays are cut; the *_count fields say how many TSan had.
struct TsanRawReport {
  uint64_t sequence = 0;      // order in which TSan made the reports
  char description[40] = {};  // "data-race", "lock-order-inversion", ...
  int access_count = 0;
  TsanRawAccess accesses[4];
  int thread_count = 0;
  TsanRawThread threads[4];
  int location_count = 0;
  TsanRawLocation location;
  int stack_count = 0;
  TsanRawStack stacks[2];
};

// Whether a ThreadSanitizer runtime is linked into this process.
// Thread-safe.
bool TsanLinked();

// Empty if TSan calls taskleak's __tsan_on_report; otherwise why not (no
// TSan, or another definition wins). Thread-safe.
std::string TsanHookProblem();

// Moves the reports collected since the last call into `out`, oldest
// first; *dropped gets how many were lost because every slot was full.
// Thread-safe (calls serialize); not async-signal-safe.
void TakeTsanReports(std::vector<TsanRawReport>* out, int* dropped);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_SANITIZERS_INTERNAL_SANITIZER_HOOKS_H_
