#include "taskleak/runtime/stack_capture.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "taskleak/runtime/internal/capture/capture_signal.h"
#include "taskleak/runtime/internal/capture/stack_slots.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/internal/proc/task_status.h"
#include "taskleak/runtime/internal/timed_lock.h"
#include "taskleak/runtime/internal/unwind/libunwind.h"
#include "taskleak/runtime/thread_list.h"

namespace taskleak {
namespace {

constexpr int64_t kNanosPerSecond = 1000 * 1000 * 1000;
// How often the wait, once answers stop coming, looks in /proc for targets
// that exited with the request queued (their signal is discarded, so they
// would otherwise cost the whole deadline): 1 ms at first, doubling up to
// this.
constexpr int64_t kMaxPollNanos = 32 * 1000 * 1000;
// How long past the deadline a handler already unwinding may take to finish.
constexpr int64_t kHandlerGraceNanos = 5 * 1000 * 1000;
// The most frames anyone may ask for; libunwind walks at most this deep.
constexpr int kMaxFramesLimit = 4096;

int64_t MonotonicNanos() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec * kNanosPerSecond + now.tv_nsec;
}

timespec ToTimespec(int64_t nanos) {
  timespec t;
  t.tv_sec = nanos / kNanosPerSecond;
  t.tv_nsec = nanos % kNanosPerSecond;
  return t;
}

pid_t CurrentTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// Serializes captures. Timed, so that a capture never waits forever: not on
// a capture stuck in a pathological state, nor in a child forked while
// another thread held it.
internal::TimedLock capture_lock;

std::string StatusPath(pid_t tid) {
  return absl::StrCat("/proc/self/task/", tid, "/status");
}

std::string BlockedReason(pid_t tid, int signal) {
  return absl::StrCat("signal blocked (SigBlk in ", StatusPath(tid),
                      " has signal ", signal, ")");
}

constexpr char kExited[] = "thread exited";

// A thread that was sent a request and has not been settled yet.
struct Request {
  size_t result;
  int slot;
};

// What to say about a thread that did not answer, from a fresh look at /proc.
std::string NoAnswerReason(int task_dir_fd, pid_t tid, int signal,
                           absl::Duration deadline, const char* detail) {
  absl::StatusOr<internal::TaskStatus> status =
      internal::ReadTaskStatus(task_dir_fd, tid);
  if (absl::IsNotFound(status.status())) return kExited;
  if (status.ok() && internal::HasSignal(status->blocked, signal)) {
    return BlockedReason(tid, signal);
  }
  std::string reason =
      absl::StrCat("no answer within ", absl::FormatDuration(deadline));
  if (status.ok()) {
    absl::StrAppend(&reason, " (thread state: ", std::string(1, status->state),
                    " (", ThreadStateName(status->state), ")", detail, ")");
  } else {
    absl::StrAppend(&reason, " (", status.status().message(), ")");
  }
  return reason;
}

// Decides from /proc whether `tid` can be asked at all; returns an empty
// string if so.
std::string ReasonNotToSend(int task_dir_fd, pid_t tid, int signal) {
  absl::StatusOr<internal::TaskStatus> status =
      internal::ReadTaskStatus(task_dir_fd, tid);
  if (absl::IsNotFound(status.status())) return kExited;
  if (!status.ok()) return std::string(status.status().message());
  // A thread that blocks the signal would never answer, and each capture
  // would queue one more signal against RLIMIT_SIGPENDING.
  if (internal::HasSignal(status->blocked, signal)) {
    return BlockedReason(tid, signal);
  }
  if (internal::HasSignal(status->pending, signal)) {
    return absl::StrCat(
        "an earlier capture's signal is still pending (SigPnd in ",
        StatusPath(tid), " has signal ", signal,
        "): the thread has not run since");
  }
  return std::string();
}

std::string SendFailureReason(int error) {
  switch (error) {
    case ESRCH:
      return kExited;
    case EAGAIN:
      return "cannot queue the signal: the limit on queued signals "
             "(RLIMIT_SIGPENDING) is reached";
    default:
      return absl::StrCat("rt_tgsigqueueinfo failed: ", strerror(error));
  }
}

// The threads that answered the previous capture, sorted. Reading a
// thread's status costs several system calls, more than the whole request,
// so these are asked without looking first; should one have blocked the
// signal since, the wait below finds out from /proc as soon as answers stop
// coming, and the next capture looks first again. Guarded by capture_lock.
std::vector<pid_t>& ResponsiveTids() {
  static std::vector<pid_t>* tids = new std::vector<pid_t>;
  return *tids;
}

bool AnsweredLastTime(pid_t tid) {
  const std::vector<pid_t>& tids = ResponsiveTids();
  return std::binary_search(tids.begin(), tids.end(), tid);
}

// Records which of the threads `asked` answered; threads not asked this time
// keep their standing, within a bound on stale entries.
void RememberAnswers(absl::Span<const pid_t> asked,
                     std::vector<pid_t> answered) {
  std::vector<pid_t>& known = ResponsiveTids();
  std::vector<pid_t> asked_sorted(asked.begin(), asked.end());
  std::sort(asked_sorted.begin(), asked_sorted.end());
  const size_t limit = answered.size() + 4096;
  for (pid_t tid : known) {
    if (answered.size() >= limit) break;
    if (!std::binary_search(asked_sorted.begin(), asked_sorted.end(), tid)) {
      answered.push_back(tid);
    }
  }
  std::sort(answered.begin(), answered.end());
  answered.erase(std::unique(answered.begin(), answered.end()), answered.end());
  known = std::move(answered);
}

// Waits for answers until `deadline_nanos`. Whenever answers stop coming,
// looks up the threads still silent in /proc and settles those that exited
// (a request queued to an exiting thread is dropped) or block the signal.
// Leaves in `requests` those still unsettled.
void AwaitAnswers(int task_dir_fd, int signal, int64_t deadline_nanos,
                  std::vector<Request>* requests,
                  std::vector<ThreadStack>* results) {
  int64_t poll_nanos = 1000 * 1000;
  size_t silent_before = requests->size() + 1;
  while (!requests->empty()) {
    const int64_t now = MonotonicNanos();
    if (now >= deadline_nanos) return;
    if (internal::WaitForAnswers(
            ToTimespec(std::min(deadline_nanos, now + poll_nanos)))) {
      return;
    }
    requests->erase(
        std::remove_if(requests->begin(), requests->end(),
                       [](const Request& request) {
                         return internal::SlotAnswered(request.slot);
                       }),
        requests->end());
    if (requests->size() < silent_before) {
      silent_before = requests->size();
      continue;  // Still answering.
    }
    poll_nanos = std::min(poll_nanos * 2, kMaxPollNanos);
    auto settled = [&](const Request& request) {
      ThreadStack& stack = (*results)[request.result];
      absl::StatusOr<internal::TaskStatus> status =
          internal::ReadTaskStatus(task_dir_fd, stack.tid);
      std::string reason;
      if (absl::IsNotFound(status.status())) {
        reason = kExited;
      } else if (status.ok() && internal::HasSignal(status->blocked, signal)) {
        reason = BlockedReason(stack.tid, signal);
      } else {
        return false;
      }
      if (!internal::DisarmSlot(request.slot)) return false;  // Answering.
      stack.unavailable_reason = std::move(reason);
      return true;
    };
    requests->erase(std::remove_if(requests->begin(), requests->end(), settled),
                    requests->end());
    silent_before = requests->size();
  }
}

// The calling thread's stack, starting in the caller of CaptureImpl (a
// public entry point). Not inlined, so that the frames to skip are known.
ABSL_ATTRIBUTE_NOINLINE void CaptureSelf(int max_frames, ThreadStack* stack) {
  stack->pcs.resize(max_frames);
  // Skips CaptureSelf and CaptureImpl.
  const int n = internal::CaptureCurrentStack(stack->pcs.data(), max_frames,
                                              /*skip=*/2);
  stack->pcs.resize(std::max(n, 0));
  stack->available = !stack->pcs.empty();
  if (!stack->available) stack->unavailable_reason = "unwinding found no frame";
}

ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<std::vector<ThreadStack>> CaptureImpl(
    absl::Span<const pid_t> tids, const StackCaptureOptions& options) {
  // The capture lock, the slots' atomics, and installing the signal handler
  // (TSan acquires the sigaction state before it runs a handler) must not
  // order the program's threads with this one.
  internal::HiddenFromTsan hidden;
  if (options.max_frames < 1 || options.max_frames > kMaxFramesLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("StackCaptureOptions::max_frames must be in 1..",
                     kMaxFramesLimit, ", got ", options.max_frames));
  }
  const internal::LibUnwind* lib = internal::LoadLibUnwind();
  if (lib == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "stack capture needs libunwind: ", internal::LibUnwindError()));
  }

  const absl::Duration deadline =
      std::max(options.deadline, absl::ZeroDuration());
  // Another capture takes at most its deadline and a few /proc reads.
  const absl::Duration patience =
      std::min(2 * deadline + absl::Seconds(1), absl::Hours(1));
  if (!capture_lock.LockUntil(
          ToTimespec(MonotonicNanos() + absl::ToInt64Nanoseconds(patience)))) {
    return absl::DeadlineExceededError(absl::StrCat(
        "another stack capture in this process did not finish within ",
        absl::FormatDuration(patience)));
  }
  absl::Cleanup unlock = [] { capture_lock.Unlock(); };
  // The deadline starts once this capture has the machinery to itself, so
  // that each of two concurrent captures gets all of its time.
  const int64_t deadline_nanos =
      MonotonicNanos() + std::min(absl::ToInt64Nanoseconds(deadline),
                                  int64_t{365} * 24 * 3600 * kNanosPerSecond);
  absl::StatusOr<int> signal = internal::PrepareCaptureSignal(options.signal);
  if (!signal.ok()) return signal.status();
  const int task_dir_fd =
      open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (task_dir_fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read /proc/self/task: ", strerror(errno),
                     " (is /proc mounted and readable?)"));
  }
  absl::Cleanup closer = [task_dir_fd] { close(task_dir_fd); };

  std::vector<ThreadStack> results(tids.size());
  std::vector<Request> requests;
  requests.reserve(tids.size());
  std::vector<size_t> self;
  const pid_t self_tid = CurrentTid();
  const pid_t pid = getpid();
  const uid_t uid = getuid();

  // First look in /proc at the threads that need it, all before any
  // handler starts competing with us for the CPU; then ask.
  std::vector<size_t> to_ask;
  to_ask.reserve(tids.size());
  for (size_t i = 0; i < tids.size(); ++i) {
    ThreadStack& stack = results[i];
    stack.tid = tids[i];
    if (stack.tid == self_tid) {
      self.push_back(i);
    } else if (stack.tid <= 0) {
      stack.unavailable_reason = absl::StrCat("not a thread id: ", stack.tid);
    } else if (AnsweredLastTime(stack.tid)) {
      to_ask.push_back(i);
    } else if (MonotonicNanos() < deadline_nanos) {
      stack.unavailable_reason =
          ReasonNotToSend(task_dir_fd, stack.tid, *signal);
      if (stack.unavailable_reason.empty()) to_ask.push_back(i);
    } else {
      to_ask.push_back(i);  // Reported below as not asked.
    }
  }

  internal::BeginCapture(lib);
  for (size_t i : to_ask) {
    ThreadStack& stack = results[i];
    if (MonotonicNanos() >= deadline_nanos) {
      stack.unavailable_reason =
          absl::StrCat("not asked: the ", absl::FormatDuration(deadline),
                       " deadline passed first");
      continue;
    }
    const int slot = internal::ArmSlot(options.max_frames);
    if (slot < 0) {
      stack.unavailable_reason =
          absl::StrCat("not asked: more than ", internal::kMaxStackSlots,
                       " threads in one capture");
      continue;
    }
    const int error = internal::SendCaptureRequest(
        pid, uid, stack.tid, *signal, internal::RequestValue(slot));
    if (error != 0) {
      internal::DisarmSlot(slot);
      stack.unavailable_reason = SendFailureReason(error);
      continue;
    }
    requests.push_back(Request{i, slot});
  }
  internal::ReleaseSenderHold();

  // Our own stack, while the others answer.
  for (size_t i : self) CaptureSelf(options.max_frames, &results[i]);

  std::vector<Request> unsettled = requests;
  AwaitAnswers(task_dir_fd, *signal, deadline_nanos, &unsettled, &results);

  // Handlers caught unwinding at the deadline get a little longer, shared.
  const int64_t give_up_nanos =
      std::max(MonotonicNanos(), deadline_nanos) + kHandlerGraceNanos;
  std::vector<pid_t> answered;
  for (const Request& request : requests) {
    ThreadStack& stack = results[request.result];
    switch (internal::FinishSlot(request.slot, give_up_nanos, &stack.pcs)) {
      case internal::SlotOutcome::kAnswered:
        stack.available = !stack.pcs.empty();
        stack.unavailable_reason =
            stack.available ? "" : "unwinding found no frame";
        answered.push_back(stack.tid);
        break;
      case internal::SlotOutcome::kUnanswered:
        if (stack.unavailable_reason.empty()) {
          stack.unavailable_reason =
              NoAnswerReason(task_dir_fd, stack.tid, *signal, deadline, "");
        }
        break;
      case internal::SlotOutcome::kStillWriting:
        stack.unavailable_reason =
            NoAnswerReason(task_dir_fd, stack.tid, *signal, deadline,
                           "; its handler was still unwinding");
        break;
    }
  }
  RememberAnswers(tids, std::move(answered));
  return results;
}

}  // namespace

absl::StatusOr<std::vector<ThreadStack>> CaptureThreadStacks(
    absl::Span<const pid_t> tids, const StackCaptureOptions& options) {
  absl::StatusOr<std::vector<ThreadStack>> result = CaptureImpl(tids, options);
  // Keeps this frame on the stack, where the calling thread's trace starts.
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return result;
}

absl::StatusOr<std::vector<ThreadStack>> CaptureAllThreadStacks(
    const StackCaptureOptions& options) {
  absl::StatusOr<std::vector<pid_t>> tids = ListThreadIds();
  if (!tids.ok()) return tids.status();
  absl::StatusOr<std::vector<ThreadStack>> result = CaptureImpl(*tids, options);
  ABSL_BLOCK_TAIL_CALL_OPTIMIZATION();
  return result;
}

int ActiveStackCaptureSignal() { return internal::CurrentCaptureSignal(); }

}  // namespace taskleak
