#include "taskleak/runtime/internal/futex_lock.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace taskleak {
namespace internal {
namespace {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t),
              "futex word must be a plain 32-bit integer");

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

uint32_t* FutexWord(std::atomic<uint32_t>* state) {
  return reinterpret_cast<uint32_t*>(state);
}

}  // namespace

void FutexLock::LockSlow() {
  // Holders keep the lock for tens of nanoseconds, while a futex round trip
  // is a microsecond or more: spin a little before sleeping.
  for (int i = 0; i < 128; ++i) {
    CpuRelax();
    uint32_t expected = kFree;
    if (state_.load(std::memory_order_relaxed) == kFree &&
        state_.compare_exchange_weak(expected, kLocked,
                                     std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
      return;
    }
  }
  // Marking the lock contended makes the holder's Unlock wake us. We may
  // then own it in the contended state, which costs one spurious wake later.
  while (state_.exchange(kContended, std::memory_order_acquire) != kFree) {
    syscall(SYS_futex, FutexWord(&state_), FUTEX_WAIT_PRIVATE, kContended,
            nullptr, nullptr, 0);
  }
}

void FutexLock::WakeOne() {
  syscall(SYS_futex, FutexWord(&state_), FUTEX_WAKE_PRIVATE, 1, nullptr,
          nullptr, 0);
}

}  // namespace internal
}  // namespace taskleak
