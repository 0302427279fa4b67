// Which addresses applying a libunwind register state reads, worked out
// from the state itself, so that a walk can check them against the thread's
// stack before libunwind reads them, instead of having libunwind ask the
// kernel about each new page (three system calls a page, one of them
// taking the address space's lock).
//
// The state is libunwind 1.6's dwarf_reg_state_t on x86-64, which
// unw_reg_states_iterate hands out as bytes. Its layout is libunwind's own,
// so a decoded plan is trusted only once it predicted a real step exactly
// (libunwind.cc): another layout yields no plan, and walks validate as
// before.

#ifndef TASKLEAK_RUNTIME_INTERNAL_UNWIND_READ_PLAN_H_
#define TASKLEAK_RUNTIME_INTERNAL_UNWIND_READ_PLAN_H_

#include <cstddef>
#include <cstdint>

namespace taskleak {
namespace internal {

// For a state whose caller's CFA is the stack or frame pointer plus an
// offset, and whose registers are each undefined, unchanged or saved at a
// CFA-relative address: the reads applying it makes. Applying reads the
// return address, and the walk then reads the caller's frame pointer.
struct ReadPlan {
  bool known = false;         // set once the plan predicted a step
  bool cfa_from_rbp = false;  // else from rsp
  int64_t cfa_offset = 0;
  bool reads_return_address = false;
  int64_t return_address_offset = 0;
  enum class Rbp { kUndefined, kSame, kSaved } rbp = Rbp::kSame;
  int64_t rbp_offset = 0;  // when kSaved
};

// The plan `size` bytes of state at `data` follow, with `known` false; or
// false if they do not have that shape (or that layout).
bool DecodeReadPlan(const void* data, size_t size, ReadPlan* plan);

// Whether every address `plan` reads, given the caller's CFA `cfa`, holds
// eight bytes within [lo, hi).
bool ReadsWithin(const ReadPlan& plan, uintptr_t cfa, uintptr_t lo,
                 uintptr_t hi);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_UNWIND_READ_PLAN_H_
