#include "taskleak/runtime/internal/unwind/stack_bounds.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace taskleak {
namespace internal {
namespace {

std::atomic<StackBoundsLookup> lookup{nullptr};

}  // namespace

StackBounds OwnStackBounds() {
  StackBounds bounds;
  // The main thread's stack grows on demand below what is mapped now.
  if (syscall(SYS_gettid) == getpid()) return bounds;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return bounds;
  void* addr = nullptr;
  size_t size = 0;
  if (pthread_attr_getstack(&attr, &addr, &size) == 0 && addr != nullptr) {
    bounds.lo = reinterpret_cast<uintptr_t>(addr);
    bounds.hi = bounds.lo + size;
    bounds.thread = static_cast<uintptr_t>(pthread_self());
  }
  pthread_attr_destroy(&attr);
  return bounds;
}

StackBoundsLookup SetStackBoundsLookup(StackBoundsLookup l) {
  return lookup.exchange(l, std::memory_order_acq_rel);
}

StackBounds StackBoundsOf(pid_t tid) {
  const StackBoundsLookup l = lookup.load(std::memory_order_acquire);
  return l != nullptr ? l(tid) : StackBounds();
}

}  // namespace internal
}  // namespace taskleak
