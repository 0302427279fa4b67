#include "taskleak/runtime/fd_list.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace taskleak {

absl::StatusOr<std::vector<int>> ListFds(const FdListOptions& options) {
  DIR* dir = opendir(options.fd_dir.c_str());
  if (dir == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read open file descriptors at ", options.fd_dir,
                     ": ", strerror(errno), " (is /proc mounted?)"));
  }
  const int own_fd = dirfd(dir);
  std::vector<int> fds;
  while (struct dirent* entry = readdir(dir)) {
    int fd;
    if (absl::SimpleAtoi(entry->d_name, &fd) && fd != own_fd) {
      fds.push_back(fd);
    }
  }
  closedir(dir);
  std::sort(fds.begin(), fds.end());
  return fds;
}

absl::StatusOr<std::string> ReadFdTarget(int fd, const FdListOptions& options) {
  const std::string path = absl::StrCat(options.fd_dir, "/", fd);
  char buf[4096];
  const ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("fd ", fd, " is closed"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", path, ": ", strerror(errno)));
  }
  return std::string(buf, n);
}

}  // namespace taskleak
