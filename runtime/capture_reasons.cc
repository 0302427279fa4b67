#include "taskleak/runtime/capture_reasons.h"

#include <errno.h>
#include <string.h>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "taskleak/runtime/internal/proc/task_status.h"
#include "taskleak/runtime/internal/thread_sanitizer.h"
#include "taskleak/runtime/thread_list.h"

namespace taskleak {
namespace {

std::string StatusPath(absl::string_view task_dir, pid_t tid) {
  return absl::StrCat(task_dir, "/", tid, "/status");
}

// Under ThreadSanitizer the likely cause of a missing answer: it holds a
// signal for a thread until the thread is in one of its blocking
// interceptors.
constexpr char kHeldByThreadSanitizer[] =
    "did not answer: blocked where ThreadSanitizer does not deliver signals "
    "(it does in condition waits, sleeps, poll and join; not in read(), "
    "pthread_mutex_lock or uninstrumented code); ";

}  // namespace

std::string BlockedReason(absl::string_view task_dir, pid_t tid, int signal) {
  return absl::StrCat("signal blocked (SigBlk in ", StatusPath(task_dir, tid),
                      " has signal ", signal, ")");
}

std::string SendFailureReason(int error) {
  switch (error) {
    case ESRCH:
      return kThreadExited;
    case EAGAIN:
      return "cannot queue the signal: the limit on queued signals "
             "(RLIMIT_SIGPENDING) is reached";
    default:
      return absl::StrCat("rt_tgsigqueueinfo failed: ", strerror(error));
  }
}

std::string NoAnswerReason(int task_dir_fd, absl::string_view task_dir,
                           pid_t tid, int signal, absl::Duration deadline,
                           absl::string_view detail) {
  absl::StatusOr<internal::TaskStatus> status =
      internal::ReadTaskStatus(task_dir_fd, tid);
  if (absl::IsNotFound(status.status())) return kThreadExited;
  if (status.ok() && internal::HasSignal(status->blocked, signal)) {
    return BlockedReason(task_dir, tid, signal);
  }
  // With a `detail` the handler ran: TSan did deliver the signal.
  std::string reason =
      absl::StrCat(internal::UnderThreadSanitizer() && detail.empty()
                       ? kHeldByThreadSanitizer
                       : "",
                   "no answer within ", absl::FormatDuration(deadline));
  if (status.ok()) {
    absl::StrAppend(&reason, " (thread state: ", std::string(1, status->state),
                    " (", ThreadStateName(status->state), ")", detail, ")");
  } else {
    absl::StrAppend(&reason, " (", status.status().message(), ")");
  }
  return reason;
}

std::string ReasonNotToSend(int task_dir_fd, absl::string_view task_dir,
                            pid_t tid, int signal) {
  absl::StatusOr<internal::TaskStatus> status =
      internal::ReadTaskStatus(task_dir_fd, tid);
  if (absl::IsNotFound(status.status())) return kThreadExited;
  if (!status.ok()) return std::string(status.status().message());
  // A thread that blocks the signal would never answer, and each capture
  // would queue one more signal against RLIMIT_SIGPENDING.
  if (internal::HasSignal(status->blocked, signal)) {
    return BlockedReason(task_dir, tid, signal);
  }
  if (internal::HasSignal(status->pending, signal)) {
    return absl::StrCat(
        "an earlier capture's signal is still pending (SigPnd in ",
        StatusPath(task_dir, tid), " has signal ", signal,
        "): the thread has not run since");
  }
  return std::string();
}

}  // namespace taskleak
