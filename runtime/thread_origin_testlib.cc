// A shared library that thread_origin_test loads with dlopen: it starts a
// thread from inside itself, the way a third-party library would.

#include <pthread.h>

extern "C" __attribute__((noinline, visibility("default"))) int
TaskleakTestStartThreadInLibrary(pthread_t* thread, void* (*routine)(void*),
                                 void* arg) {
  const int result = pthread_create(thread, nullptr, routine, arg);
  // Keeps this frame on the stack during the call (no tail call).
  asm volatile("" ::: "memory");
  return result;
}
