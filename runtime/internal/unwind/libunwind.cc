#include "taskleak/runtime/internal/unwind/libunwind.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <ucontext.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "taskleak/runtime/internal/unwind/read_plan.h"
#include "taskleak/runtime/internal/unwind/register_state_cache.h"
#include "taskleak/runtime/internal/unwind/stack_bounds.h"

// Every sanitizer runtime defines it; null when none is linked in, even if
// this file was built without the sanitizer's flags.
extern "C" void __sanitizer_print_stack_trace() __attribute__((weak));

namespace taskleak {
namespace internal {
namespace {

const char* load_error = "libunwind not loaded yet";

template <typename T>
bool Resolve(void* handle, const char* name, T* fn) {
  *fn = reinterpret_cast<T>(dlsym(handle, name));
  if (*fn == nullptr) load_error = "libunwind.so.8 lacks an expected symbol";
  return *fn != nullptr;
}

const LibUnwind* DoLoad() {
  // RTLD_LOCAL keeps its _Unwind_* symbols out of the global scope.
  void* handle = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    load_error =
        "cannot load libunwind.so.8 (install libunwind8 / libunwind-dev)";
    return nullptr;
  }
  static LibUnwind lib;
  if (!Resolve(handle, "_Ux86_64_getcontext", &lib.getcontext) ||
      !Resolve(handle, "_ULx86_64_init_local2", &lib.init_local2) ||
      !Resolve(handle, "_ULx86_64_step", &lib.step) ||
      !Resolve(handle, "_ULx86_64_get_reg", &lib.get_reg) ||
      !Resolve(handle, "unw_backtrace", &lib.backtrace) ||
      !Resolve(handle, "_ULx86_64_reg_states_iterate",
               &lib.reg_states_iterate) ||
      !Resolve(handle, "_ULx86_64_apply_reg_state", &lib.apply_reg_state) ||
      !Resolve(handle, "_ULx86_64_is_signal_frame", &lib.is_signal_frame)) {
    return nullptr;
  }
  load_error = "";
  return &lib;
}

}  // namespace

const LibUnwind* LoadLibUnwind() {
  static const LibUnwind* lib = DoLoad();
  return lib;
}

const char* LibUnwindError() { return load_error; }

namespace {

// A walk in progress. libunwind's cursor remembers whether the frame it is
// on must be looked up at its address (interrupted there) or one byte back
// (a return address). A cached step leaves that memory as it was, so
// `in_sync` says whether it still agrees with `exact` before libunwind looks
// anything up itself.
struct Walk {
  const LibUnwind* lib;
  const ucontext_t* context;
  unw_cursor_t cursor;
  // The registers a restarted cursor starts from; it points into them.
  ucontext_t restart;
  bool exact = true;
  bool in_sync = true;
  // Where the thread's stack lies from the interrupted frame up, when known
  // (StackBounds): a step whose reads all fall inside is taken without
  // libunwind's validation.
  bool bounded = false;
  uintptr_t lo = 0;
  uintptr_t hi = 0;
  // Whether the frame pointer's current location (a register, or a stack
  // address) is known to be readable: read by a validated step, or checked
  // against the bounds.
  bool rbp_readable = true;
};

// Finds, among the rows of a procedure's register states, the one covering
// `lookup`.
struct RowFinder {
  static int Visit(void* token, void* data, size_t size, unw_word_t start,
                   unw_word_t end) {
    RowFinder* self = static_cast<RowFinder*>(token);
    if (self->lookup < start || self->lookup >= end) return 0;
    if (size <= sizeof(self->data)) {
      memcpy(self->data, data, size);
      self->size = size;
    }
    return -1;  // Found: no need for the rows after it.
  }

  uintptr_t lookup = 0;
  size_t size = 0;
  alignas(16) unsigned char data[kMaxRegisterStateBytes];
};

// Whether the frame the cursor is on is a signal trampoline, whose caller
// resumes at an exact instruction. libunwind reads 16 bytes of code there;
// skip addresses where that could cross into an unmapped page.
bool IsSignalFrame(Walk* walk, uintptr_t ip) {
  constexpr uintptr_t kPage = 4096;
  if (kPage - (ip & (kPage - 1)) < 16) return false;
  return walk->lib->is_signal_frame(&walk->cursor) > 0;
}

// Makes the cursor check every address it reads, as unw_step does for
// itself: a stack that changed under the walk (ThreadSanitizer runs handlers
// late, with the context saved earlier) or a corrupt one must end the walk,
// not the process. libunwind 1.6 to 1.8 keep that flag in the low bit of
// the cursor's first word, next to the context pointer; the flag is set only
// if the word is exactly that pointer. Returns false otherwise (1.5 keeps a
// pointer to the cursor there), and the walk then uses unw_step alone.
bool ValidateReads(unw_cursor_t* cursor, const void* context) {
  uintptr_t* first_word = reinterpret_cast<uintptr_t*>(cursor);
  if (*first_word != reinterpret_cast<uintptr_t>(context)) return false;
  *first_word |= 1;
  return true;
}

// Turns the cursor's validation (ValidateReads) off or back on.
void SetValidation(Walk* walk, bool on) {
  uintptr_t* first_word = reinterpret_cast<uintptr_t*>(&walk->cursor);
  *first_word = (*first_word & ~uintptr_t{1}) | (on ? 1 : 0);
}

// Starts a fresh cursor from the current frame's registers, so that
// libunwind's lookup mode matches `exact` again.
bool Restart(Walk* walk) {
  static constexpr struct {
    int unw;
    int greg;
  } kRegisters[] = {
      {UNW_X86_64_RIP, REG_RIP}, {UNW_X86_64_RSP, REG_RSP},
      {UNW_X86_64_RBP, REG_RBP}, {UNW_X86_64_RBX, REG_RBX},
      {UNW_X86_64_R12, REG_R12}, {UNW_X86_64_R13, REG_R13},
      {UNW_X86_64_R14, REG_R14}, {UNW_X86_64_R15, REG_R15},
  };
  walk->restart.uc_mcontext = walk->context->uc_mcontext;
  for (const auto& r : kRegisters) {
    unw_word_t value = 0;
    if (walk->lib->get_reg(&walk->cursor, r.unw, &value) == 0) {
      walk->restart.uc_mcontext.gregs[r.greg] = static_cast<greg_t>(value);
    }
  }
  walk->in_sync =
      walk->lib->init_local2(&walk->cursor, &walk->restart,
                             walk->exact ? UNW_INIT_SIGNAL_FRAME : 0) == 0 &&
      ValidateReads(&walk->cursor, &walk->restart);
  walk->rbp_readable = true;  // in the registers it restarted from
  return walk->in_sync;
}

// Applies a register state; like unw_step, an unknown frame pointer in the
// caller marks the outermost frame.
int Apply(Walk* walk, const unsigned char* state) {
  const int rc = walk->lib->apply_reg_state(&walk->cursor,
                                            const_cast<unsigned char*>(state));
  unw_word_t rbp = 0;
  if (rc > 0 && walk->lib->get_reg(&walk->cursor, UNW_X86_64_RBP, &rbp) < 0) {
    return 0;
  }
  return rc;
}

// The caller's CFA by `plan`, if the registers it comes from are known to
// be readable: the stack pointer is the cursor's CFA, the frame pointer's
// location must be readable.
bool PlannedCfa(Walk* walk, const ReadPlan& plan, uintptr_t* cfa) {
  if (plan.cfa_from_rbp && !walk->rbp_readable) return false;
  unw_word_t base = 0;
  if (walk->lib->get_reg(&walk->cursor,
                         plan.cfa_from_rbp ? UNW_X86_64_RBP : UNW_X86_64_RSP,
                         &base) < 0) {
    return false;
  }
  *cfa = static_cast<uintptr_t>(base + plan.cfa_offset);
  return true;
}

// Applies `state` without validation when every address it reads is on the
// thread's stack. Returns false, having done nothing, when it cannot tell.
bool ApplyPlanned(Walk* walk, const RegisterState& state, int* rc) {
  const ReadPlan& plan = state.plan;
  if (!walk->bounded || !plan.known) return false;
  // With the frame pointer unchanged, the walk reads its old location.
  if (plan.rbp == ReadPlan::Rbp::kSame && !walk->rbp_readable) return false;
  SetValidation(walk, false);
  uintptr_t cfa = 0;
  if (!PlannedCfa(walk, plan, &cfa) ||
      !ReadsWithin(plan, cfa, walk->lo, walk->hi)) {
    SetValidation(walk, true);
    return false;
  }
  *rc = Apply(walk, state.data);
  SetValidation(walk, true);
  // Saved: at an address just checked; the same: as readable as before;
  // undefined: no location, and the walk ends.
  walk->rbp_readable = true;
  return true;
}

// Whether `plan` says what applying it did: the caller's stack pointer (its
// CFA), return address and frame pointer, from the registers before the
// step (`sp`, `rbp`). It reads what it predicts only once the CFA matched,
// and only in the frame between the old stack pointer and the CFA, which
// libunwind has just read from, validated.
bool PlanPredicts(Walk* walk, const ReadPlan& plan, unw_word_t sp,
                  unw_word_t rbp) {
  if (!plan.reads_return_address) return false;
  const uintptr_t cfa =
      static_cast<uintptr_t>((plan.cfa_from_rbp ? rbp : sp) + plan.cfa_offset);
  unw_word_t new_sp = 0, new_ip = 0, new_rbp = 0;
  if (walk->lib->get_reg(&walk->cursor, UNW_X86_64_RSP, &new_sp) < 0 ||
      walk->lib->get_reg(&walk->cursor, UNW_REG_IP, &new_ip) < 0 ||
      walk->lib->get_reg(&walk->cursor, UNW_X86_64_RBP, &new_rbp) < 0) {
    return false;
  }
  if (new_sp != cfa || !ReadsWithin(plan, cfa, sp, cfa)) return false;
  uintptr_t saved_ip = 0;
  memcpy(&saved_ip,
         reinterpret_cast<const void*>(cfa + plan.return_address_offset),
         sizeof(saved_ip));
  unw_word_t expected_rbp = rbp;
  if (plan.rbp == ReadPlan::Rbp::kSaved) {
    memcpy(&expected_rbp, reinterpret_cast<const void*>(cfa + plan.rbp_offset),
           sizeof(expected_rbp));
  } else if (plan.rbp == ReadPlan::Rbp::kUndefined) {
    return false;  // the step would have ended the walk
  }
  return new_ip == saved_ip && new_rbp == expected_rbp;
}

// Looks up the frame's register state with libunwind, applies it
// (validated), and caches it with its read plan if the plan predicted the
// step.
int LookUpAndApply(Walk* walk, uintptr_t lookup, bool signal_frame,
                   const RowFinder& finder) {
  ReadPlan plan;
  unw_word_t sp = 0, rbp = 0;
  // Validated reads, as the step's own.
  const bool decoded =
      DecodeReadPlan(finder.data, finder.size, &plan) &&
      walk->lib->get_reg(&walk->cursor, UNW_X86_64_RSP, &sp) == 0 &&
      walk->lib->get_reg(&walk->cursor, UNW_X86_64_RBP, &rbp) == 0;
  walk->exact = signal_frame;
  const int rc = Apply(walk, finder.data);
  plan.known = decoded && rc > 0 && PlanPredicts(walk, plan, sp, rbp);
  RecordRegisterState(lookup, finder.data, finder.size, signal_frame, plan);
  walk->rbp_readable = rc > 0;  // Apply read it, validated
  return rc;
}

// Moves the walk to the caller of the frame looked up at `lookup`. Returns
// > 0 when there is one, 0 at the outermost frame, < 0 on error.
int Step(Walk* walk, uintptr_t ip, uintptr_t lookup, StepMode mode) {
  if (mode == StepMode::kCached) {
    if (const RegisterState* state = FindRegisterState(lookup)) {
      walk->in_sync = walk->in_sync && walk->exact == state->signal_frame;
      walk->exact = state->signal_frame;
      int rc = 0;
      if (ApplyPlanned(walk, *state, &rc)) return rc;
      rc = Apply(walk, state->data);
      walk->rbp_readable = rc > 0;  // Apply read it, validated
      return rc;
    }
    if (!walk->in_sync && !Restart(walk)) return -1;
    const bool signal_frame = IsSignalFrame(walk, ip);
    RowFinder finder;
    finder.lookup = lookup;
    // This also tells libunwind's cursor how to look up the caller.
    walk->lib->reg_states_iterate(&walk->cursor, &RowFinder::Visit, &finder);
    if (finder.size != 0) {
      return LookUpAndApply(walk, lookup, signal_frame, finder);
    }
  }
  // libunwind's own step also copes with frames that have no unwind
  // information (PLT stubs, hand-written code).
  walk->exact = IsSignalFrame(walk, ip);
  walk->in_sync = true;
  walk->rbp_readable = false;  // wherever libunwind's step put it
  return walk->lib->step(&walk->cursor);
}

// Walks from `context`: either where a signal interrupted the thread
// (`interrupted`), or where the thread called unw_getcontext.
int WalkFrom(const LibUnwind& lib, ucontext_t* context, bool interrupted,
             uintptr_t* pcs, int max, StepMode mode, const StackBounds* stack) {
  Walk walk;
  walk.lib = &lib;
  walk.context = context;
  walk.exact = interrupted;
  // UNW_INIT_SIGNAL_FRAME starts at the interrupted instruction, so the
  // handler and the kernel's trampoline are not part of the walk.
  if (lib.init_local2(&walk.cursor, context,
                      interrupted ? UNW_INIT_SIGNAL_FRAME : 0) < 0) {
    return 0;
  }
  if (mode == StepMode::kCached && !ValidateReads(&walk.cursor, context)) {
    mode = StepMode::kLibunwindOnly;
  }
  // Legitimate reads lie above the interrupted stack pointer; one that is
  // not on the thread's stack (an alternate signal stack, a fiber's) says
  // the bounds are not this walk's.
  const uintptr_t sp =
      static_cast<uintptr_t>(context->uc_mcontext.gregs[REG_RSP]);
  if (mode == StepMode::kCached && stack != nullptr && stack->known() &&
      sp >= stack->lo && sp < stack->hi) {
    walk.bounded = true;
    walk.lo = sp;
    walk.hi = stack->hi;
  }
  int n = 0;
  while (n < max) {
    unw_word_t ip = 0;
    if (lib.get_reg(&walk.cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    const uintptr_t lookup = walk.exact ? ip : ip - 1;
    pcs[n++] = lookup;
    if (n == max || Step(&walk, ip, lookup, mode) <= 0) break;
  }
  return n;
}

}  // namespace

int UnwindSignalContext(const LibUnwind& lib, void* ucontext, uintptr_t* pcs,
                        int max, StepMode mode, const StackBounds* stack) {
  return WalkFrom(lib, static_cast<ucontext_t*>(ucontext),
                  /*interrupted=*/true, pcs, max, mode, stack);
}

// Three unwinders for a thread's own stack, each with a weakness:
//  - unw_backtrace takes 0.1 us once warm, but its first call in each thread
//    builds a per-thread cache (0.7 ms measured here), freed at thread exit
//    by a thread-specific-data destructor that locks a mutex after gcc's
//    ThreadSanitizer has retired the thread, which crashes it.
//  - glibc's backtrace() keeps no per-thread state and costs 2-3 us, but the
//    sanitizers intercept it and add frames of their own.
//  - A walk with cached register states (as in a signal handler) keeps no
//    per-thread state either and costs about 0.15 us per frame.
// So a thread starts with backtrace() and switches to unw_backtrace once it
// has captured enough stacks to repay the cache (ski rental: at most twice
// the cost of the better choice in hindsight); sanitized builds walk.
constexpr int kCapturesBeforeLibunwind = 256;
thread_local int captures_in_thread = 0;

int CaptureCurrentStack(uintptr_t* pcs, int max, int skip) {
  // One more frame for ourselves.
  constexpr int kMaxDepth = 256;
  const int want = std::min(max + skip + 1, kMaxDepth);
  const int first = skip + 1;
  uintptr_t frames[kMaxDepth];
  int n = 0;
  if (__sanitizer_print_stack_trace != nullptr) {
    const LibUnwind* lib = LoadLibUnwind();
    ucontext_t context;
    if (lib == nullptr || lib->getcontext(&context) != 0) return 0;
    // The first frame is this function's, at the call: a lookup address.
    n = WalkFrom(*lib, &context, /*interrupted=*/false, frames, want,
                 StepMode::kCached, /*stack=*/nullptr);
  } else {
    void* addresses[kMaxDepth];
    const LibUnwind* lib = ++captures_in_thread > kCapturesBeforeLibunwind
                               ? LoadLibUnwind()
                               : nullptr;
    n = lib != nullptr ? lib->backtrace(addresses, want)
                       : backtrace(addresses, want);
    // Return addresses: the call is the byte before.
    for (int i = 0; i < n; ++i) {
      frames[i] = reinterpret_cast<uintptr_t>(addresses[i]) - 1;
    }
  }
  const int count = std::max(0, std::min(n - first, max));
  std::copy(frames + first, frames + first + count, pcs);
  return count;
}

}  // namespace internal
}  // namespace taskleak
