// Where a thread's stack lies, for walks that check each address they read
// against it instead of asking the kernel (see libunwind.h).
//
// The pthread_create interposer records each thread's stack as the thread
// starts and registers the lookup here, so that the capture, which must
// not depend on the interposer being linked, finds the bounds when it is.

#ifndef TASKLEAK_RUNTIME_INTERNAL_UNWIND_STACK_BOUNDS_H_
#define TASKLEAK_RUNTIME_INTERNAL_UNWIND_STACK_BOUNDS_H_

#include <sys/types.h>

#include <cstdint>

namespace taskleak {
namespace internal {

// A thread's stack, [lo, hi), every byte of it mapped readable (glibc's
// block less its guard, or the program's own stack given to
// pthread_attr_setstack), and the thread it belongs to (pthread_self()),
// so that a handler running on another thread never trusts it. All zero
// when unknown.
struct StackBounds {
  uintptr_t lo = 0;
  uintptr_t hi = 0;
  uintptr_t thread = 0;

  bool known() const { return hi > lo && thread != 0; }
};

// The calling thread's stack, read with pthread_getattr_np; unknown for
// the main thread (whose stack grows on demand). Not async-signal-safe.
StackBounds OwnStackBounds();

// The stack of the live thread `tid`, if the interposer recorded it.
// SetStackBoundsLookup returns the lookup it replaces (benchmarks compare
// walks with and without bounds).
using StackBoundsLookup = StackBounds (*)(pid_t tid);
StackBoundsLookup SetStackBoundsLookup(StackBoundsLookup lookup);
StackBounds StackBoundsOf(pid_t tid);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_UNWIND_STACK_BOUNDS_H_
