// A process-wide, lock-free cache of libunwind register states, keyed by the
// lookup address of a frame. libunwind's own step takes a lock and changes
// the signal mask twice per frame; a state found here is applied with
// unw_apply_reg_state, which does neither, so a signal handler can walk a
// stack it has walked before without a single system call.

#ifndef TASKLEAK_RUNTIME_INTERNAL_UNWIND_REGISTER_STATE_CACHE_H_
#define TASKLEAK_RUNTIME_INTERNAL_UNWIND_REGISTER_STATE_CACHE_H_

#include <cstddef>
#include <cstdint>

#include "taskleak/runtime/internal/unwind/read_plan.h"

namespace taskleak {
namespace internal {

// Room for libunwind's dwarf_reg_state_t (184 bytes in 1.6 on x86-64).
constexpr size_t kMaxRegisterStateBytes = 256;

struct RegisterState {
  // What unw_reg_states_iterate reported for the row holding the address.
  alignas(16) unsigned char data[kMaxRegisterStateBytes];
  // The frame is a signal trampoline: its caller resumes at an exact
  // instruction rather than after a call.
  bool signal_frame;
  ReadPlan plan;
};

// The state recorded for `lookup_ip`, or null. A returned state never
// changes. Async-signal-safe, lock-free.
const RegisterState* FindRegisterState(uintptr_t lookup_ip);

// Records the state of `lookup_ip`. Drops it silently when `size` exceeds
// kMaxRegisterStateBytes or the cache is full. Async-signal-safe, lock-free.
void RecordRegisterState(uintptr_t lookup_ip, const void* data, size_t size,
                         bool signal_frame, const ReadPlan& plan = {});

// Forgets every state if a shared object was unloaded since the last call
// (another one may now live at its addresses). Thread-safe; not
// async-signal-safe.
void ForgetRegisterStatesIfLibrariesUnloaded();

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_UNWIND_REGISTER_STATE_CACHE_H_
