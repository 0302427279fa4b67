// The signal masks and scheduler state of one thread, read from
// /proc/self/task/TID/status. Parsing is kept apart from file access so that
// malformed input can be tested directly.

#ifndef TASKLEAK_RUNTIME_INTERNAL_PROC_TASK_STATUS_H_
#define TASKLEAK_RUNTIME_INTERNAL_PROC_TASK_STATUS_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace taskleak {
namespace internal {

// Bit (signal - 1) of each mask stands for `signal`, as in the file.
struct TaskStatus {
  char state = '?';      // "State:", e.g. 'S' for sleeping.
  uint64_t pending = 0;  // "SigPnd:", sent to this thread, not delivered.
  uint64_t blocked = 0;  // "SigBlk:", the thread's signal mask.
};

// True if `mask` has the bit for `signal` (1..64).
inline bool HasSignal(uint64_t mask, int signal) {
  return (mask >> (signal - 1)) & 1;
}

// Parses the text of a status file. Fails if a field is missing or malformed.
absl::StatusOr<TaskStatus> ParseTaskStatus(absl::string_view text);

// The same, for signal handlers: returns nullptr, or what is wrong (a
// string literal). Async-signal-safe.
const char* ParseTaskStatusInto(absl::string_view text, TaskStatus* status);

// Reads "<tid>/status" relative to `task_dir_fd` (an open /proc/PID/task)
// into `buf` and parses it. Returns 0, ENOENT if the thread has exited, the
// errno of open or read, or EBADMSG if the text is malformed (then
// `*malformed`, if given, says how). Async-signal-safe.
int ReadTaskStatusInto(int task_dir_fd, pid_t tid, char* buf, size_t size,
                       TaskStatus* status, const char** malformed = nullptr);

// Reads "<tid>/status" relative to `task_dir_fd`, an open /proc/self/task.
// Returns NotFound if the thread has exited. Thread-safe; not
// async-signal-safe (the error paths allocate).
absl::StatusOr<TaskStatus> ReadTaskStatus(int task_dir_fd, pid_t tid);

// True if "<tid>" still exists in `task_dir_fd` (one fstatat; cheaper than
// reading the status). Thread-safe.
bool TaskExists(int task_dir_fd, pid_t tid);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_PROC_TASK_STATUS_H_
