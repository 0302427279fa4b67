#include "taskleak/runtime/internal/own_fds.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "taskleak/runtime/internal/unwind/libunwind.h"

namespace taskleak {
namespace internal {
namespace {

// A slot is claimed by swapping its fd from kFree to kClaiming, filled, then
// published with the fd; readers skip slots that are not published.
constexpr int kFree = -1;
constexpr int kClaiming = -2;

struct Slot {
  std::atomic<int> fd{kFree};
  std::atomic<dev_t> dev{0};
  std::atomic<ino_t> ino{0};
  // The owner we set on the open file description (F_SETOWN), or 0.
  std::atomic<pid_t> owner{0};
};

// More than libdw keeps for the modules of a large program: each module has
// at most a main file, a debug file and a dwz file.
constexpr int kSlots = 256;
Slot slots[kSlots];

// Whether `fd` is still the open file the slot recorded. The file's identity
// tells a reused number apart when it names another file; the owner mark
// tells it apart when it names the same file, opened anew by the program
// (a fresh open file description has no owner).
bool SameFile(int fd, const Slot& slot) {
  struct stat st;
  if (fstat(fd, &st) != 0 ||
      st.st_dev != slot.dev.load(std::memory_order_relaxed) ||
      st.st_ino != slot.ino.load(std::memory_order_relaxed)) {
    return false;
  }
  const pid_t owner = slot.owner.load(std::memory_order_relaxed);
  return owner == 0 || fcntl(fd, F_GETOWN) == owner;
}

}  // namespace

void RegisterOwnFd(int fd) {
  if (fd < 0) return;
  const int saved_errno = errno;
  struct stat st;
  const bool open = fstat(fd, &st) == 0;
  // Marks the open file description as ours. The owner only matters for
  // SIGIO, which needs O_ASYNC, which we never set.
  const pid_t owner = getpid();
  const bool marked = open && fcntl(fd, F_SETOWN, owner) == 0;
  errno = saved_errno;
  if (!open) return;
  ForgetOwnFd(fd);  // A number closed behind our back and reused.
  for (Slot& slot : slots) {
    int expected = kFree;
    if (!slot.fd.compare_exchange_strong(expected, kClaiming,
                                         std::memory_order_acquire)) {
      continue;
    }
    slot.dev.store(st.st_dev, std::memory_order_relaxed);
    slot.ino.store(st.st_ino, std::memory_order_relaxed);
    slot.owner.store(marked ? owner : 0, std::memory_order_relaxed);
    slot.fd.store(fd, std::memory_order_release);
    return;
  }
}

void ForgetOwnFd(int fd) {
  for (Slot& slot : slots) {
    int expected = fd;
    slot.fd.compare_exchange_strong(expected, kFree, std::memory_order_acq_rel);
  }
}

void ForgetClosedOwnFds() {
  const int saved_errno = errno;
  for (Slot& slot : slots) {
    int fd = slot.fd.load(std::memory_order_acquire);
    if (fd < 0 || SameFile(fd, slot)) continue;
    slot.fd.compare_exchange_strong(fd, kFree, std::memory_order_acq_rel);
  }
  errno = saved_errno;
}

bool IsOwnFd(int fd) {
  if (fd < 0) return false;
  for (const Slot& slot : slots) {
    if (slot.fd.load(std::memory_order_acquire) != fd) continue;
    const int saved_errno = errno;
    const bool same = SameFile(fd, slot);
    errno = saved_errno;
    return same;
  }
  return false;
}

void OpenLongLivedDescriptors() {
  // libunwind opens a pipe pair on its first cursor (to check addresses
  // before reading them) and keeps it; a creation-stack capture or a
  // thread's dump in the middle of a test would otherwise open it there.
  static const bool once = [] {
    const LibUnwind* lib = LoadLibUnwind();
    if (lib == nullptr) return false;
    unw_context_t context;
    unw_cursor_t cursor;
    return lib->getcontext(&context) == 0 &&
           lib->init_local2(&cursor, &context, 0) == 0;
  }();
  (void)once;
}

}  // namespace internal
}  // namespace taskleak
