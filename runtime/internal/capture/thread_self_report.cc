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

#if defined(__x86_64__)
constexpr unsigned char kSyscall[] = {0x0f, 0x05};
#elif defined(__aarch64__)
constexpr unsigned char kSyscall[] = {0x01, 0x00, 0x00, 0xd4};  // svc #0
#endif

}  // namespace

void ReportSelf(const void* ucontext, ThreadSelfReport* report) {
  if (prctl(PR_GET_NAME, report->name) != 0) report->name[0] = '\0';
  report->name[sizeof(report->name) - 1] = '\0';
  timespec cpu;
  report->cpu_nanos =
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0
          ? static_cast<int64_t>(cpu.tv_sec) * 1000000000 + cpu.tv_nsec
          : -1;
  report->pc = 0;
  report->result = 0;
  if (ucontext == nullptr) return;
  const mcontext_t& m = static_cast<const ucontext_t*>(ucontext)->uc_mcontext;
#if defined(__x86_64__)
  report->pc = static_cast<uintptr_t>(m.gregs[REG_RIP]);
  report->result = static_cast<int64_t>(m.gregs[REG_RAX]);
#elif defined(__aarch64__)
  report->pc = static_cast<uintptr_t>(m.pc);
  report->result = static_cast<int64_t>(m.regs[0]);
#else
  (void)m;
#endif
}

char InterruptedStates::Of(const ThreadSelfReport& report) {
#if defined(__x86_64__) || defined(__aarch64__)
  if (report.pc == 0) return '?';
  const bool eintr = report.result == -EINTR;
  auto [it, inserted] = seen_.try_emplace({report.pc, eintr}, '?');
  if (!inserted) return it->second;
  constexpr size_t kSize = sizeof(kSyscall);
  unsigned char at_pc[kSize];
  unsigned char before_pc[kSize];
  if (ReadOwnMemory(report.pc, at_pc, kSize) != kSize) return it->second;
  // Restartable (futex, read, poll with SA_RESTART ...): rewound onto it.
  if (memcmp(at_pc, kSyscall, kSize) == 0) {
    it->second = 'S';
  } else if (eintr && report.pc >= kSize &&
             ReadOwnMemory(report.pc - kSize, before_pc, kSize) == kSize &&
             memcmp(before_pc, kSyscall, kSize) == 0) {
    it->second = 'S';  // Not restarted (nanosleep, epoll_wait ...): past it.
  } else {
    it->second = 'R';
  }
  return it->second;
#else
  (void)report;
  return '?';
#endif
}

}  // namespace internal
}  // namespace taskleak
