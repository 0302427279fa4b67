#include "taskleak/runtime/internal/capture/thread_self_report.h"

#include <errno.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstring>

namespace taskleak {
namespace internal {
namespace {

// Reads `size` bytes of this process's memory at `address` into `out`
// without risking a fault. Returns the bytes read (0 on failure).
size_t ReadOwnMemory(uintptr_t address, void* out, size_t size) {
  iovec local = {out, size};
  iovec remote = {reinterpret_cast<void*>(address), size};
  const ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
  return n < 0 ? 0 : static_cast<size_t>(n);
}

// From the interrupted program counter, its return-value register, and
// the encoding and length of the system-call instruction.
char StateAt(uintptr_t pc, long long result, const unsigned char* insn,
             size_t insn_size) {
  unsigned char at_pc[4];
  if (ReadOwnMemory(pc, at_pc, insn_size) != insn_size) return '?';
  // Restartable (futex, read, poll with SA_RESTART ...): rewound onto it.
  if (memcmp(at_pc, insn, insn_size) == 0) return 'S';
  unsigned char before_pc[4];
  if (result == -EINTR && pc >= insn_size &&
      ReadOwnMemory(pc - insn_size, before_pc, insn_size) == insn_size &&
      memcmp(before_pc, insn, insn_size) == 0) {
    return 'S';  // Not restarted (nanosleep, epoll_wait ...): just past it.
  }
  return 'R';
}

}  // namespace

char InterruptedState(const void* ucontext) {
  if (ucontext == nullptr) return '?';
  const mcontext_t& m = static_cast<const ucontext_t*>(ucontext)->uc_mcontext;
#if defined(__x86_64__)
  static const unsigned char kSyscall[] = {0x0f, 0x05};
  return StateAt(static_cast<uintptr_t>(m.gregs[REG_RIP]),
                 static_cast<long long>(m.gregs[REG_RAX]), kSyscall,
                 sizeof(kSyscall));
#elif defined(__aarch64__)
  static const unsigned char kSvc0[] = {0x01, 0x00, 0x00, 0xd4};  // svc #0
  return StateAt(static_cast<uintptr_t>(m.pc),
                 static_cast<long long>(m.regs[0]), kSvc0, sizeof(kSvc0));
#else
  (void)m;
  return '?';
#endif
}

void ReportSelf(const void* ucontext, ThreadSelfReport* report) {
  if (prctl(PR_GET_NAME, report->name) != 0) report->name[0] = '\0';
  report->name[sizeof(report->name) - 1] = '\0';
  timespec cpu;
  report->cpu_nanos =
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0
          ? static_cast<int64_t>(cpu.tv_sec) * 1000000000 + cpu.tv_nsec
          : -1;
  report->state = InterruptedState(ucontext);
}

}  // namespace internal
}  // namespace taskleak
