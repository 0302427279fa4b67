#include "taskleak/runtime/internal/write_all.h"

#include <errno.h>
#include <unistd.h>

namespace taskleak {
namespace internal {

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace internal
}  // namespace taskleak
