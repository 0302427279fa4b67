// Why a thread's stack is missing from a capture: the one wording every
// capture reports, ordinary (stack_capture.cc) or emergency
// (emergency_dump.cc). Not a public header.

#ifndef TASKLEAK_RUNTIME_CAPTURE_REASONS_H_
#define TASKLEAK_RUNTIME_CAPTURE_REASONS_H_

#include <sys/types.h>

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace taskleak {

inline constexpr char kThreadExited[] = "thread exited";
inline constexpr char kNoFrame[] = "unwinding found no frame";
inline constexpr char kStillUnwinding[] = "; its handler was still unwinding";

// "signal blocked (SigBlk in TASK_DIR/TID/status has signal N)". `task_dir`
// is the directory the thread was looked up in, e.g. "/proc/self/task".
std::string BlockedReason(absl::string_view task_dir, pid_t tid, int signal);

// Why the request for `tid` could not be sent; `error` is the errno of
// rt_tgsigqueueinfo.
std::string SendFailureReason(int error);

// What to say about a thread that did not answer within `deadline`, from a
// fresh look at its status in `task_dir_fd` (an open `task_dir`). `detail`
// is appended to the thread state (e.g. kStillUnwinding). Under
// ThreadSanitizer, with no `detail`, the text starts with "did not answer:
// blocked where ThreadSanitizer does not deliver signals (...); ".
std::string NoAnswerReason(int task_dir_fd, absl::string_view task_dir,
                           pid_t tid, int signal, absl::Duration deadline,
                           absl::string_view detail);

// Decides from /proc whether `tid` can be asked at all; returns an empty
// string if so.
std::string ReasonNotToSend(int task_dir_fd, absl::string_view task_dir,
                            pid_t tid, int signal);

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_CAPTURE_REASONS_H_
