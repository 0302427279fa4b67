// The real-time signal that asks a thread to unwind itself: choosing it
// without clobbering a handler the program installed, installing our
// handler, and sending requests with rt_tgsigqueueinfo.

#ifndef TASKLEAK_RUNTIME_INTERNAL_CAPTURE_CAPTURE_SIGNAL_H_
#define TASKLEAK_RUNTIME_INTERNAL_CAPTURE_CAPTURE_SIGNAL_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/status/statusor.h"

namespace taskleak {
namespace internal {

// Returns the signal to send, with our handler installed on it. With
// `requested` == 0, keeps the signal chosen before while our handler is still
// there, else picks the highest real-time signal whose handler is SIG_DFL.
// Otherwise uses `requested`, and fails if another handler (or SIG_IGN) is
// installed on it. Never replaces a handler it did not install, and never
// uninstalls its own: a request may still be queued. Not thread-safe (the
// caller serializes); not async-signal-safe.
absl::StatusOr<int> PrepareCaptureSignal(int requested);

// The signal our handler was last installed on, or 0. Thread-safe.
int CurrentCaptureSignal();

// Queues `signal` with `value` to thread `tid` of this process, whose pid
// and uid the caller passes (saving two system calls per thread). Returns 0
// or the errno of rt_tgsigqueueinfo (ESRCH: the thread is gone).
// Thread-safe, async-signal-safe.
int SendCaptureRequest(pid_t pid, uid_t uid, pid_t tid, int signal,
                       uint64_t value);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_CAPTURE_CAPTURE_SIGNAL_H_
