// libunwind, loaded privately. Linking Debian's libunwind.so.8 the normal way
// makes libstdc++'s exception unwinding and glibc's backtrace() bind to it;
// dlopen with RTLD_LOCAL keeps it to ourselves.

#ifndef TASKLEAK_RUNTIME_INTERNAL_UNWIND_LIBUNWIND_H_
#define TASKLEAK_RUNTIME_INTERNAL_UNWIND_LIBUNWIND_H_

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <cstdint>

#include "taskleak/runtime/internal/unwind/stack_bounds.h"

namespace taskleak {
namespace internal {

// The entry points we use, resolved from libunwind.so.8.
struct LibUnwind {
  int (*getcontext)(unw_context_t*);
  int (*init_local2)(unw_cursor_t*, unw_context_t*, int);
  int (*step)(unw_cursor_t*);
  int (*get_reg)(unw_cursor_t*, unw_regnum_t, unw_word_t*);
  int (*backtrace)(void**, int);
  int (*reg_states_iterate)(unw_cursor_t*, unw_reg_states_callback, void*);
  int (*apply_reg_state)(unw_cursor_t*, void*);
  int (*is_signal_frame)(unw_cursor_t*);
};

// Loads libunwind once; later calls return the same pointer. Returns null if
// it cannot be loaded, with the reason in LibUnwindError(). Thread-safe, not
// async-signal-safe: call it before a handler may need it.
const LibUnwind* LoadLibUnwind();
const char* LibUnwindError();

// Every stack taskleak records holds lookup addresses: the exact instruction
// for the interrupted frame, and return address - 1 for each caller, so that
// symbolizing finds the call's own line without further adjustment.

// How UnwindSignalContext moves from a frame to its caller.
enum class StepMode {
  // A register state cached from an earlier walk when there is one (no lock,
  // no system call but a check of each new page read); otherwise libunwind
  // looks the frame up, and the state it finds is cached.
  kCached,
  // Always libunwind's own step: for comparison in tests and benchmarks.
  kLibunwindOnly,
};

// Walks the stack interrupted by a signal, whose context the kernel passed
// to the handler, skipping the handler's own frames. Writes at most `max`
// program counters to `pcs` and returns how many. Async-signal-safe once
// LoadLibUnwind() has succeeded.
//
// With `stack`, the interrupted thread's own (StackBounds), a cached step
// whose every read it can tell beforehand (a ReadPlan) and that falls
// between the interrupted stack pointer and the stack's top is taken
// without libunwind's validation, which costs three system calls for each
// new page read: memory there is mapped whatever the stack holds. Any
// other step validates as before.
int UnwindSignalContext(const LibUnwind& lib, void* ucontext, uintptr_t* pcs,
                        int max, StepMode mode = StepMode::kCached,
                        const StackBounds* stack = nullptr);

// Captures the calling thread's stack, skipping `skip` frames above the
// caller. Returns the number of program counters written. Not
// async-signal-safe. Uses glibc's backtrace() for a thread's first captures,
// then libunwind's faster, cached unw_backtrace; when a sanitizer runtime is
// present, walks with cached register states instead (see the .cc).
int CaptureCurrentStack(uintptr_t* pcs, int max, int skip);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_UNWIND_LIBUNWIND_H_
