#include "taskleak/runtime/internal/proc/task_status.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace taskleak {
namespace internal {
namespace {

// The text after "<name>:" and its tab on the line that starts with it.
bool FindField(absl::string_view text, absl::string_view name,
               absl::string_view* value) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == absl::string_view::npos) end = text.size();
    absl::string_view line = text.substr(pos, end - pos);
    if (line.size() > name.size() && line.substr(0, name.size()) == name &&
        line[name.size()] == ':') {
      line.remove_prefix(name.size() + 1);
      while (!line.empty() && (line[0] == '\t' || line[0] == ' ')) {
        line.remove_prefix(1);
      }
      *value = line;
      return true;
    }
    pos = end + 1;
  }
  return false;
}

bool ParseMask(absl::string_view text, absl::string_view name, uint64_t* mask) {
  absl::string_view value;
  // Signal masks are printed as 16 hex digits on 64-bit Linux.
  return FindField(text, name, &value) && !value.empty() &&
         value.size() <= 16 && absl::SimpleHexAtoi(value, mask);
}

}  // namespace

absl::StatusOr<TaskStatus> ParseTaskStatus(absl::string_view text) {
  TaskStatus status;
  absl::string_view state;
  if (!FindField(text, "State", &state) || state.empty()) {
    return absl::DataLossError("malformed status: no State line");
  }
  status.state = state[0];
  if (!ParseMask(text, "SigPnd", &status.pending)) {
    return absl::DataLossError("malformed status: no valid SigPnd line");
  }
  if (!ParseMask(text, "SigBlk", &status.blocked)) {
    return absl::DataLossError("malformed status: no valid SigBlk line");
  }
  return status;
}

absl::StatusOr<TaskStatus> ReadTaskStatus(int task_dir_fd, pid_t tid) {
  char path[32];
  snprintf(path, sizeof(path), "%d/status", tid);
  const int fd = openat(task_dir_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ESRCH) {
      return absl::NotFoundError(absl::StrCat("thread ", tid, " has exited"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open /proc/self/task/", path, ": ", strerror(errno)));
  }
  // The whole file is about 1.5 KB; SigBlk comes well before 4 KB.
  char buf[4096];
  const ssize_t n = read(fd, buf, sizeof(buf));
  const int read_errno = errno;
  close(fd);
  if (n <= 0) {
    if (n == 0 || read_errno == ESRCH) {
      return absl::NotFoundError(absl::StrCat("thread ", tid, " has exited"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot read /proc/self/task/", path, ": ", strerror(read_errno)));
  }
  absl::StatusOr<TaskStatus> status =
      ParseTaskStatus(absl::string_view(buf, n));
  if (!status.ok()) {
    return absl::DataLossError(absl::StrCat("/proc/self/task/", path, ": ",
                                            status.status().message()));
  }
  return status;
}

bool TaskExists(int task_dir_fd, pid_t tid) {
  char path[16];
  snprintf(path, sizeof(path), "%d", tid);
  struct stat st;
  return fstatat(task_dir_fd, path, &st, 0) == 0 || errno != ENOENT;
}

}  // namespace internal
}  // namespace taskleak
