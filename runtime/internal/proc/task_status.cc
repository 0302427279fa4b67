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

// "<tid>/status" into `path` (at least 32 bytes), without snprintf.
void TaskStatusPath(pid_t tid, char* path) {
  char digits[16];
  int n = 0;
  uint32_t u = static_cast<uint32_t>(tid);
  do {
    digits[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  size_t size = 0;
  while (n > 0) path[size++] = digits[--n];
  memcpy(path + size, "/status", sizeof("/status"));
}

}  // namespace

const char* ParseTaskStatusInto(absl::string_view text, TaskStatus* status) {
  absl::string_view state;
  if (!FindField(text, "State", &state) || state.empty()) {
    return "malformed status: no State line";
  }
  status->state = state[0];
  if (!ParseMask(text, "SigPnd", &status->pending)) {
    return "malformed status: no valid SigPnd line";
  }
  if (!ParseMask(text, "SigBlk", &status->blocked)) {
    return "malformed status: no valid SigBlk line";
  }
  return nullptr;
}

absl::StatusOr<TaskStatus> ParseTaskStatus(absl::string_view text) {
  TaskStatus status;
  if (const char* error = ParseTaskStatusInto(text, &status)) {
    return absl::DataLossError(error);
  }
  return status;
}

int ReadTaskStatusInto(int task_dir_fd, pid_t tid, char* buf, size_t size,
                       TaskStatus* status, const char** malformed) {
  char path[32];
  TaskStatusPath(tid, path);
  const int fd = openat(task_dir_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ESRCH ? ENOENT : errno;
  // The whole file is about 1.5 KB; SigBlk comes well before 4 KB.
  ssize_t n;
  do {
    n = read(fd, buf, size);
  } while (n < 0 && errno == EINTR);
  const int read_errno = errno;
  close(fd);
  if (n == 0 || (n < 0 && read_errno == ESRCH)) return ENOENT;
  if (n < 0) return read_errno;
  const char* problem = ParseTaskStatusInto(absl::string_view(buf, n), status);
  if (problem == nullptr) return 0;
  if (malformed != nullptr) *malformed = problem;
  return EBADMSG;
}

absl::StatusOr<TaskStatus> ReadTaskStatus(int task_dir_fd, pid_t tid) {
  char path[32];
  TaskStatusPath(tid, path);
  char buf[4096];
  TaskStatus status;
  const char* malformed = "";
  const int error = ReadTaskStatusInto(task_dir_fd, tid, buf, sizeof(buf),
                                       &status, &malformed);
  if (error == ENOENT) {
    return absl::NotFoundError(absl::StrCat("thread ", tid, " has exited"));
  }
  if (error == EBADMSG) {
    return absl::DataLossError(
        absl::StrCat("/proc/self/task/", path, ": ", malformed));
  }
  if (error != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot read /proc/self/task/", path, ": ", strerror(error)));
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
