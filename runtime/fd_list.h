// The open file descriptors of this process and what they point to, read
// from /proc/self/fd.
//
//   absl::StatusOr<std::vector<int>> fds = taskleak::ListFds();
//   for (int fd : *fds) {
//     absl::StatusOr<std::string> target = taskleak::ReadFdTarget(fd);
//     if (target.ok()) std::cout << fd << " -> " << *target << "\n";
//   }
//
// Thread-safe; not async-signal-safe.

#ifndef TASKLEAK_RUNTIME_FD_LIST_H_
#define TASKLEAK_RUNTIME_FD_LIST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace taskleak {

struct FdListOptions {
  // The directory with one symlink per open descriptor. Tests inject others.
  std::string fd_dir = "/proc/self/fd";
};

// The open descriptors, ascending, without the one used to read the list.
absl::StatusOr<std::vector<int>> ListFds(const FdListOptions& options = {});

// What `fd` refers to: a path, "socket:[inode]", "pipe:[inode]",
// "anon_inode:[eventfd]", ... NotFound if it was closed meanwhile.
absl::StatusOr<std::string> ReadFdTarget(int fd,
                                         const FdListOptions& options = {});

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_FD_LIST_H_
