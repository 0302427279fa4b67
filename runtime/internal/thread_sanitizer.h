// Whether ThreadSanitizer's runtime is in the process, checked at run time
// (the library may be built without -fsanitize=thread and linked into a
// program built with it), and how to leave the process past it.
// Async-signal-safe.

#ifndef TASKLEAK_RUNTIME_INTERNAL_THREAD_SANITIZER_H_
#define TASKLEAK_RUNTIME_INTERNAL_THREAD_SANITIZER_H_

#include <sys/syscall.h>
#include <unistd.h>

// Defined by ThreadSanitizer's runtime.
extern "C" void __tsan_init() __attribute__((weak));

namespace taskleak {
namespace internal {

// ThreadSanitizer runs a signal handler at once only on a thread inside
// one of its blocking interceptors (a condition wait, sleep, poll, join);
// on any other thread it waits for the thread's next interceptor.
inline bool UnderThreadSanitizer() { return &__tsan_init != nullptr; }

// _exit, but under ThreadSanitizer not through its interceptor: that one
// finalizes the runtime (waiting on locks a hung thread may hold, and
// complaining that the calling thread still ignores synchronization) and
// may replace the status with its own.
[[noreturn]] inline void ExitNow(int status) {
  if (UnderThreadSanitizer()) {
    for (;;) syscall(SYS_exit_group, status);
  }
  _exit(status);
}

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_THREAD_SANITIZER_H_
