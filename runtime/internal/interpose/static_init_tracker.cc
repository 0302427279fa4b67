#include "taskleak/runtime/internal/interpose/static_init_tracker.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdint>

// Sanitizer runtimes intercept the guard functions themselves; when one is
// linked in, forward to its interceptor, as the pthread_create interposer
// does.
extern "C" int __interceptor___cxa_guard_acquire(int64_t*)
    __attribute__((weak));
extern "C" void __interceptor___cxa_guard_release(int64_t*)
    __attribute__((weak));
extern "C" void __interceptor___cxa_guard_abort(int64_t*) __attribute__((weak));

namespace taskleak {
namespace internal {
namespace {

// Initial-exec TLS: no allocation on first use, safe in any context.
__attribute__((tls_model("initial-exec"))) thread_local int init_depth = 0;

// Resolved without function-local statics, which would call back into us.
template <typename Fn>
Fn Next(std::atomic<Fn>& cache, const char* name, Fn interceptor) {
  Fn fn = cache.load(std::memory_order_acquire);
  if (fn == nullptr) {
    fn = interceptor != nullptr ? interceptor
                                : reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
    cache.store(fn, std::memory_order_release);
  }
  return fn;
}

using AcquireFn = int (*)(int64_t*);
using ReleaseFn = void (*)(int64_t*);
std::atomic<AcquireFn> next_acquire{nullptr};
std::atomic<ReleaseFn> next_release{nullptr};
std::atomic<ReleaseFn> next_abort{nullptr};

}  // namespace

bool InsideStaticInitializer() { return init_depth > 0; }

}  // namespace internal
}  // namespace taskleak

using taskleak::internal::init_depth;
using taskleak::internal::Next;

// clang's static ThreadSanitizer runtime defines these three itself,
// strongly: ours are weak there, so that the program links and TSan's win
// (lazily started singletons are then not recognized in that build). gcc's
// runtime is a shared library, which ours come before.
#if defined(__clang__) && defined(__has_feature)
#if __has_feature(thread_sanitizer)
extern "C" __attribute__((weak)) int __cxa_guard_acquire(int64_t* guard);
extern "C" __attribute__((weak)) void __cxa_guard_release(int64_t* guard);
extern "C" __attribute__((weak)) void __cxa_guard_abort(int64_t* guard);
#endif
#endif

extern "C" int __cxa_guard_acquire(int64_t* guard) {
  const int acquired =
      Next(taskleak::internal::next_acquire, "__cxa_guard_acquire",
           &__interceptor___cxa_guard_acquire)(guard);
  // 1: this thread must run the initializer now.
  if (acquired != 0) ++init_depth;
  return acquired;
}

extern "C" void __cxa_guard_release(int64_t* guard) {
  --init_depth;
  Next(taskleak::internal::next_release, "__cxa_guard_release",
       &__interceptor___cxa_guard_release)(guard);
}

extern "C" void __cxa_guard_abort(int64_t* guard) {
  --init_depth;
  Next(taskleak::internal::next_abort, "__cxa_guard_abort",
       &__interceptor___cxa_guard_abort)(guard);
}
