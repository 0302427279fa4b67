// Writing a whole buffer with write(2) alone: usable in signal handlers and
// in a forked child, where stdio's locks may be held by vanished threads.

#ifndef TASKLEAK_RUNTIME_INTERNAL_WRITE_ALL_H_
#define TASKLEAK_RUNTIME_INTERNAL_WRITE_ALL_H_

#include <cstddef>

namespace taskleak {
namespace internal {

// Writes `size` bytes from `data` to `fd`, retrying after EINTR and short
// writes. Returns false if a write failed or wrote nothing. Async-signal-safe.
bool WriteAll(int fd, const char* data, size_t size);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_WRITE_ALL_H_
