// Listing the threads of a process: the numeric entries of an open
// /proc/PID/task directory, read with getdents64 into the caller's buffer
// (no opendir allocation, no per-entry copies). Async-signal-safe.

#ifndef TASKLEAK_RUNTIME_INTERNAL_PROC_TASK_DIR_H_
#define TASKLEAK_RUNTIME_INTERNAL_PROC_TASK_DIR_H_

#include <errno.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

namespace taskleak {
namespace internal {

// The layout getdents64(2) fills in; glibc does not declare it.
struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

// The thread id an entry's name stands for, or -1 if the name is not a
// positive decimal number that fits a pid_t ("." and ".." are not).
inline pid_t ParseTaskName(const char* name) {
  if (*name == '\0') return -1;
  int64_t tid = 0;
  for (; *name != '\0'; ++name) {
    if (*name < '0' || *name > '9') return -1;
    tid = tid * 10 + (*name - '0');
    if (tid > INT32_MAX) return -1;
  }
  return tid > 0 ? static_cast<pid_t>(tid) : -1;
}

// Calls `visit(tid)` for each thread entry of the open directory `dir_fd`,
// reading `size` bytes at a time into `buf` (aligned for LinuxDirent64).
// Returns 0, or the errno of a failed getdents64. Async-signal-safe if
// `visit` is.
template <typename Visit>
int ForEachTaskId(int dir_fd, char* buf, size_t size, Visit&& visit) {
  for (;;) {
    const long n = syscall(SYS_getdents64, dir_fd, buf, size);
    if (n < 0) return errno;
    if (n == 0) return 0;
    for (long pos = 0; pos < n;) {
      const auto* entry = reinterpret_cast<const LinuxDirent64*>(buf + pos);
      pos += entry->d_reclen;
      const pid_t tid = ParseTaskName(entry->d_name);
      if (tid > 0) visit(tid);
    }
  }
}

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_PROC_TASK_DIR_H_
