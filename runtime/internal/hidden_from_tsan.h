// HiddenFromTsan: a scope in which ThreadSanitizer ignores what this thread
// does, so taskleak's own bookkeeping inside a user's process creates no
// happens-before edges between user threads (which would hide their races)
// and reports no races on taskleak's own memory.
//
//   {
//     taskleak::internal::HiddenFromTsan hidden;
//     registry_lock.Lock();  // No acquire/release TSan could see.
//     registry.erase(tid);   // No memory access TSan records.
//     registry_lock.Unlock();
//   }
//
// In TSan builds (gcc and clang, ABSL_HAVE_THREAD_SANITIZER) the scope calls
// the runtime's AnnotateIgnoreSyncBegin/End (mutexes, atomics, semaphores and
// other interceptors' acquire/release are skipped) and
// AnnotateIgnoreReadsBegin/End + AnnotateIgnoreWritesBegin/End (plain and
// atomic memory accesses are not recorded; memory allocated inside has its
// shadow reset). Both gcc 12's libtsan.so.2 and clang 14's static runtime
// define all six. Elsewhere the scope is empty.
//
// Rules for code inside the scope:
// - Whatever leaves the scope must be a private copy: data shared with
//   another thread, touched outside a scope, is visible to TSan again.
// - Do not forward pthread_create inside it: TSan's parent->child edge must
//   stay.
// - TSan resets ignores while it runs a signal handler, so a handler that
//   touches shared state opens its own scope.
// - A thread must not exit inside the scope (TSan reports "finished with
//   ignores enabled").
//
// Nestable (the runtime counts). Async-signal-safe: the annotations only
// update the calling thread's counters in TSan's runtime. Not copyable.

#ifndef TASKLEAK_RUNTIME_INTERNAL_HIDDEN_FROM_TSAN_H_
#define TASKLEAK_RUNTIME_INTERNAL_HIDDEN_FROM_TSAN_H_

#include "absl/base/config.h"

#ifdef ABSL_HAVE_THREAD_SANITIZER
// Declared weak: a program without the runtime's annotations still links.
extern "C" {
void AnnotateIgnoreSyncBegin(const char* file, int line) __attribute__((weak));
void AnnotateIgnoreSyncEnd(const char* file, int line) __attribute__((weak));
void AnnotateIgnoreReadsBegin(const char* file, int line) __attribute__((weak));
void AnnotateIgnoreReadsEnd(const char* file, int line) __attribute__((weak));
void AnnotateIgnoreWritesBegin(const char* file, int line)
    __attribute__((weak));
void AnnotateIgnoreWritesEnd(const char* file, int line) __attribute__((weak));
}
#endif

namespace taskleak {
namespace internal {

class HiddenFromTsan {
 public:
#ifdef ABSL_HAVE_THREAD_SANITIZER
  HiddenFromTsan() {
    if (AnnotateIgnoreSyncBegin != nullptr) {
      AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
      AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
      AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
    }
  }
  ~HiddenFromTsan() {
    if (AnnotateIgnoreSyncBegin != nullptr) {
      AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
      AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
      AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
    }
  }
#else
  // User-provided (not defaulted), so that an unused scope draws no
  // -Wunused-variable warning.
  HiddenFromTsan() {}
  ~HiddenFromTsan() {}
#endif
  HiddenFromTsan(const HiddenFromTsan&) = delete;
  HiddenFromTsan& operator=(const HiddenFromTsan&) = delete;
};

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_HIDDEN_FROM_TSAN_H_
