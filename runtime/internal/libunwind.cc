#include "runtime/internal/libunwind.h"

#include <dlfcn.h>
#include <execinfo.h>

#include <algorithm>
#include <cstring>
#include <mutex>

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
      !Resolve(handle, "unw_backtrace", &lib.backtrace)) {
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

int UnwindSignalContext(const LibUnwind& lib, void* ucontext, uintptr_t* pcs,
                        int max) {
  unw_cursor_t cursor;
  // UNW_INIT_SIGNAL_FRAME starts at the interrupted instruction, so the
  // handler and the kernel's trampoline are not part of the walk.
  if (lib.init_local2(&cursor, static_cast<unw_context_t*>(ucontext),
                      UNW_INIT_SIGNAL_FRAME) < 0) {
    return 0;
  }
  int n = 0;
  do {
    unw_word_t ip = 0;
    if (lib.get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    pcs[n] = n == 0 ? ip : ip - 1;
    ++n;
  } while (n < max && lib.step(&cursor) > 0);
  return n;
}

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// unw_backtrace is fastest once warm, but its first call in each thread
// builds a per-thread cache (0.7 ms measured here). glibc's backtrace()
// keeps no per-thread state and costs 2-3 us. So a thread starts with
// backtrace() and switches once it has captured enough stacks to repay the
// cache. Sanitized builds keep to libunwind: the sanitizers intercept
// backtrace(), which adds frames of their own.
constexpr int kCapturesBeforeLibunwind = 256;
thread_local int captures_in_thread = 0;

int CaptureCurrentStack(uintptr_t* pcs, int max, int skip) {
  // One more frame for ourselves.
  constexpr int kMaxDepth = 256;
  void* frames[kMaxDepth];
  const int want = std::min(max + skip + 1, kMaxDepth);
  const LibUnwind* lib = nullptr;
  if (kSanitized || ++captures_in_thread > kCapturesBeforeLibunwind) {
    lib = LoadLibUnwind();
  }
  const int n =
      lib != nullptr ? lib->backtrace(frames, want) : backtrace(frames, want);
  const int first = std::min(n, skip + 1);
  const int count = std::min(n - first, max);
  for (int i = 0; i < count; ++i) {
    pcs[i] = reinterpret_cast<uintptr_t>(frames[first + i]) - 1;
  }
  return count;
}

}  // namespace internal
}  // namespace taskleak
