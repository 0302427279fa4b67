// CLOCK_MONOTONIC in nanoseconds, the one clock every deadline in the
// runtime is measured on. Async-signal-safe.

#ifndef TASKLEAK_RUNTIME_INTERNAL_MONOTONIC_CLOCK_H_
#define TASKLEAK_RUNTIME_INTERNAL_MONOTONIC_CLOCK_H_

#include <time.h>

#include <cstdint>

namespace taskleak {
namespace internal {

inline constexpr int64_t kNanosPerSecond = 1000 * 1000 * 1000;

// Now, on CLOCK_MONOTONIC.
inline int64_t MonotonicNanos() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec * kNanosPerSecond + now.tv_nsec;
}

// `nanos` as a timespec; a negative value becomes zero.
inline timespec ToTimespec(int64_t nanos) {
  if (nanos < 0) nanos = 0;
  timespec t;
  t.tv_sec = static_cast<time_t>(nanos / kNanosPerSecond);
  t.tv_nsec = static_cast<long>(nanos % kNanosPerSecond);
  return t;
}

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_MONOTONIC_CLOCK_H_
