// What a thread answering a capture signal says about itself, so that the
// collector need not read /proc/self/task/TID/stat per thread (about 17 us
// each): its name, its CPU time, and whether it was asleep in a system call.

#ifndef TASKLEAK_RUNTIME_INTERNAL_CAPTURE_THREAD_SELF_REPORT_H_
#define TASKLEAK_RUNTIME_INTERNAL_CAPTURE_THREAD_SELF_REPORT_H_

#include <cstdint>

namespace taskleak {
namespace internal {

struct ThreadSelfReport {
  char name[16] = {};      // prctl(PR_GET_NAME): the comm, NUL-terminated
  int64_t cpu_nanos = -1;  // CLOCK_THREAD_CPUTIME_ID; -1 if unknown
  // 'S' if the signal interrupted a system call the thread slept in, 'R' if
  // it interrupted the thread's own code, '?' if the context cannot tell.
  char state = '?';
};

// Fills `report` for the calling thread, interrupted in `ucontext` (the
// handler's third argument; null gives state '?'). Async-signal-safe: three
// system calls, no allocation, no lock.
void ReportSelf(const void* ucontext, ThreadSelfReport* report);

// The state part of ReportSelf. The kernel leaves a restartable call's
// program counter on its system-call instruction, and an interrupted call
// that is not restarted returns -EINTR just past it; code bytes are read
// with process_vm_readv, which fails cleanly where a plain load could fault.
// x86-64 and AArch64; '?' elsewhere.
char InterruptedState(const void* ucontext);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_CAPTURE_THREAD_SELF_REPORT_H_
