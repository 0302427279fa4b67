// What a thread answering a capture signal says about itself, so that the
// collector need not read /proc/self/task/TID/stat per thread (about 17 us
// each): its name, its CPU time, and where the signal interrupted it, from
// which the collector tells whether it was asleep in a system call.

#ifndef TASKLEAK_RUNTIME_INTERNAL_CAPTURE_THREAD_SELF_REPORT_H_
#define TASKLEAK_RUNTIME_INTERNAL_CAPTURE_THREAD_SELF_REPORT_H_

#include <cstdint>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace taskleak {
namespace internal {

struct ThreadSelfReport {
  char name[16] = {};      // prctl(PR_GET_NAME): the comm, NUL-terminated
  int64_t cpu_nanos = -1;  // CLOCK_THREAD_CPUTIME_ID; -1 if unknown
  // The interrupted program counter (0 if the context cannot tell) and the
  // register a system call returns its result in.
  uintptr_t pc = 0;
  int64_t result = 0;
};

// Fills `report` for the calling thread, interrupted in `ucontext` (the
// handler's third argument, or null). Async-signal-safe: two system calls,
// no allocation, no lock.
void ReportSelf(const void* ucontext, ThreadSelfReport* report);

// 'S' if the report's thread was asleep in a system call, 'R' if the signal
// interrupted its own code, '?' if the report cannot tell. The kernel leaves
// a restartable call's program counter on its system-call instruction, and
// an interrupted call that is not restarted returns -EINTR just past it.
// Read by the collector, not in the handler: reading the code costs a
// system call (process_vm_readv, which fails cleanly where a plain load
// could fault) that takes the address space's lock, which a thousand
// handlers at once contend for. Each distinct address is read once: threads
// parked alike share a handful. x86-64 and AArch64; '?' elsewhere.
class InterruptedStates {
 public:
  char Of(const ThreadSelfReport& report);

 private:
  // By program counter and whether the result is -EINTR.
  absl::flat_hash_map<std::pair<uintptr_t, bool>, char> seen_;
};

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_CAPTURE_THREAD_SELF_REPORT_H_
