#include "taskleak/runtime/stack_capture.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "taskleak/runtime/capture_reasons.h"
#include "taskleak/runtime/internal/capture/capture_signal.h"
#include "taskleak/runtime/internal/capture/stack_slots.h"
#include "taskleak/runtime/internal/capture/thread_self_report.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/internal/monotonic_clock.h"
#include "taskleak/runtime/internal/proc/task_status.h"
#include "taskleak/runtime/internal/timed_lock.h"
#include "taskleak/runtime/internal/unwind/libunwind.h"
#include "taskleak/runtime/internal/unwind/stack_bounds.h"
#include "taskleak/runtime/thread_list.h"

namespace taskleak {
namespace {

using internal::CaptureSlots;
using internal::kNanosPerSecond;
using internal::MonotonicNanos;
using internal::ToTimespec;

// How often the wait, once answers stop coming, looks in /proc for targets
// that exited with the request queued (their signal is discarded, so they
// would otherwise cost the whole deadline): 1 ms at first, doubling up to
// this.
constexpr int64_t kMaxPollNanos = 32 * 1000 * 1000;
// How long past the deadline a handler already unwinding may take to finish.
constexpr int64_t kHandlerGraceNanos = 5 * 1000 * 1000;
// The most frames anyone may ask for; libunwind walks at most this deep.
constexpr int kMaxFramesLimit = 4096;

constexpr char kTaskDir[] = "/proc/self/task";

pid_t CurrentTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// Serializes captures. Timed, so that a capture never waits forever: not on
// a capture stuck in a pathological state, nor in a child forked while
// another thread held it.
internal::TimedLock capture_lock;

// A thread that was sent a request and has not been settled yet.
struct Request {
  size_t result;
  int slot;
};

// One capture, as its steps see it.
struct Capture {
  int task_dir_fd = -1;
  int signal = 0;
  int max_frames = 0;
  absl::Duration deadline;
  int64_t deadline_nanos = 0;
  std::vector<ThreadStack> results;
};

// The threads that were asked and did not answer, sorted. Reading a
// thread's status costs several system calls, more than the whole request,
// so every other thread is asked without looking first: a new one that
// blocks the signal (or has exited) is found in /proc by the wait below as
// soon as answers stop coming, and is looked at first from then on, so that
// no thread gets more than one request it cannot take against
// RLIMIT_SIGPENDING. Guarded by capture_lock.
std::vector<pid_t>& SilentTids() {
  static std::vector<pid_t>* tids = new std::vector<pid_t>;
  return *tids;
}

bool SilentLastTime(pid_t tid) {
  const std::vector<pid_t>& tids = SilentTids();
  return std::binary_search(tids.begin(), tids.end(), tid);
}

// Records which of the threads `asked` stayed silent; threads not asked this
// time keep their standing, within a bound on stale entries.
void RememberAnswers(absl::Span<const pid_t> asked,
                     std::vector<pid_t> answered) {
  std::sort(answered.begin(), answered.end());
  std::vector<pid_t> asked_sorted(asked.begin(), asked.end());
  std::sort(asked_sorted.begin(), asked_sorted.end());
  std::vector<pid_t> silent;
  for (pid_t tid : asked_sorted) {
    if (!std::binary_search(answered.begin(), answered.end(), tid)) {
      silent.push_back(tid);
    }
  }
  const size_t limit = silent.size() + 4096;
  for (pid_t tid : SilentTids()) {
    if (silent.size() >= limit) break;
    if (!std::binary_search(asked_sorted.begin(), asked_sorted.end(), tid)) {
      silent.push_back(tid);
    }
  }
  std::sort(silent.begin(), silent.end());
  silent.erase(std::unique(silent.begin(), silent.end()), silent.end());
  SilentTids() = std::move(silent);
}

// Waits for answers until `deadline_nanos`. Whenever answers stop coming,
// looks up the threads still silent in /proc and settles those that exited
// (a request queued to an exiting thread is dropped) or block the signal.
// Leaves in `requests` those still unsettled.
void AwaitAnswers(Capture& c, std::vector<Request>* requests) {
  internal::StackSlots& slots = CaptureSlots();
  int64_t poll_nanos = 1000 * 1000;
  size_t silent_before = requests->size() + 1;
  while (!requests->empty()) {
    const int64_t now = MonotonicNanos();
    if (now >= c.deadline_nanos) return;
    if (slots.WaitForAnswers(
            ToTimespec(std::min(c.deadline_nanos, now + poll_nanos)))) {
      return;
    }
    requests->erase(std::remove_if(requests->begin(), requests->end(),
                                   [&slots](const Request& request) {
                                     return slots.SlotAnswered(request.slot);
                                   }),
                    requests->end());
    if (requests->size() < silent_before) {
      silent_before = requests->size();
      continue;  // Still answering.
    }
    poll_nanos = std::min(poll_nanos * 2, kMaxPollNanos);
    auto settled = [&](const Request& request) {
      ThreadStack& stack = c.results[request.result];
      absl::StatusOr<internal::TaskStatus> status =
          internal::ReadTaskStatus(c.task_dir_fd, stack.tid);
      std::string reason;
      if (absl::IsNotFound(status.status())) {
        reason = kThreadExited;
      } else if (status.ok() &&
                 internal::HasSignal(status->blocked, c.signal)) {
        reason = BlockedReason(kTaskDir, stack.tid, c.signal);
      } else {
        return false;
      }
      if (!slots.DisarmSlot(request.slot)) return false;  // Answering.
      stack.unavailable_reason = std::move(reason);
      return true;
    };
    requests->erase(std::remove_if(requests->begin(), requests->end(), settled),
                    requests->end());
    silent_before = requests->size();
  }
}

// Checks the options and loads libunwind.
absl::StatusOr<const internal::LibUnwind*> LoadUnwinder(
    const StackCaptureOptions& options) {
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
  return lib;
}

// Takes capture_lock, waiting for another capture at most its deadline and
// a few /proc reads.
absl::Status LockCaptures(absl::Duration deadline) {
  const absl::Duration patience =
      std::min(2 * deadline + absl::Seconds(1), absl::Hours(1));
  if (!capture_lock.LockUntil(
          ToTimespec(MonotonicNanos() + absl::ToInt64Nanoseconds(patience)))) {
    return absl::DeadlineExceededError(absl::StrCat(
        "another stack capture in this process did not finish within ",
        absl::FormatDuration(patience)));
  }
  return absl::OkStatus();
}

// Starts `c` once the capture has the machinery to itself, so that each of
// two concurrent captures gets all of its time: the deadline, the signal,
// /proc/self/task.
absl::Status StartCapture(const StackCaptureOptions& options, Capture& c) {
  c.max_frames = options.max_frames;
  c.deadline_nanos =
      MonotonicNanos() + std::min(absl::ToInt64Nanoseconds(c.deadline),
                                  int64_t{365} * 24 * 3600 * kNanosPerSecond);
  absl::StatusOr<int> signal = internal::PrepareCaptureSignal(options.signal);
  if (!signal.ok()) return signal.status();
  c.signal = *signal;
  c.task_dir_fd = open(kTaskDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (c.task_dir_fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read /proc/self/task: ", strerror(errno),
                     " (is /proc mounted and readable?)"));
  }
  return absl::OkStatus();
}

// Sorts `tids` into c.results: the calling thread's indices into `self`,
// those to ask into the result, the rest settled with a reason. Looks in
// /proc at the threads that need it, all before any handler starts
// competing with us for the CPU.
std::vector<size_t> ChooseThreadsToAsk(absl::Span<const pid_t> tids, Capture& c,
                                       std::vector<size_t>* self) {
  const pid_t self_tid = CurrentTid();
  std::vector<size_t> to_ask;
  to_ask.reserve(tids.size());
  c.results.resize(tids.size());
  for (size_t i = 0; i < tids.size(); ++i) {
    ThreadStack& stack = c.results[i];
    stack.tid = tids[i];
    if (stack.tid == self_tid) {
      self->push_back(i);
    } else if (stack.tid <= 0) {
      stack.unavailable_reason = absl::StrCat("not a thread id: ", stack.tid);
    } else if (!SilentLastTime(stack.tid)) {
      to_ask.push_back(i);
    } else if (MonotonicNanos() < c.deadline_nanos) {
      stack.unavailable_reason =
          ReasonNotToSend(c.task_dir_fd, kTaskDir, stack.tid, c.signal);
      if (stack.unavailable_reason.empty()) to_ask.push_back(i);
    } else {
      to_ask.push_back(i);  // Reported below as not asked.
    }
  }
  return to_ask;
}

// Arms a slot for each of `to_ask` and sends its request. Returns those
// sent.
std::vector<Request> SendRequests(const internal::LibUnwind* lib,
                                  const std::vector<size_t>& to_ask,
                                  Capture& c) {
  internal::StackSlots& slots = CaptureSlots();
  const pid_t pid = getpid();
  const uid_t uid = getuid();
  std::vector<Request> requests;
  requests.reserve(to_ask.size());
  internal::PrepareToUnwind(*lib);
  slots.BeginCapture(lib);
  for (size_t i : to_ask) {
    ThreadStack& stack = c.results[i];
    if (MonotonicNanos() >= c.deadline_nanos) {
      stack.unavailable_reason =
          absl::StrCat("not asked: the ", absl::FormatDuration(c.deadline),
                       " deadline passed first");
      continue;
    }
    const int slot =
        slots.ArmSlot(c.max_frames, internal::StackBoundsOf(stack.tid));
    if (slot < 0) {
      stack.unavailable_reason =
          absl::StrCat("not asked: more than ", internal::kMaxStackSlots,
                       " threads in one capture");
      continue;
    }
    const int error = internal::SendCaptureRequest(
        pid, uid, stack.tid, c.signal, slots.RequestValue(slot));
    if (error != 0) {
      slots.DisarmSlot(slot);
      stack.unavailable_reason = SendFailureReason(error);
      continue;
    }
    requests.push_back(Request{i, slot});
  }
  slots.ReleaseSenderHold();
  return requests;
}

// Takes each request's answer, or says why there is none. Returns the
// threads that answered.
std::vector<pid_t> CollectAnswers(const std::vector<Request>& requests,
                                  Capture& c) {
  // Handlers caught unwinding at the deadline get a little longer, shared.
  const int64_t give_up_nanos =
      std::max(MonotonicNanos(), c.deadline_nanos) + kHandlerGraceNanos;
  std::vector<pid_t> answered;
  internal::InterruptedStates states;
  for (const Request& request : requests) {
    ThreadStack& stack = c.results[request.result];
    internal::ThreadSelfReport self;
    switch (CaptureSlots().FinishSlot(request.slot, give_up_nanos, &stack.pcs,
                                      &self)) {
      case internal::SlotOutcome::kAnswered:
        stack.self.reported = true;
        stack.self.name = self.name;
        stack.self.cpu_time = self.cpu_nanos < 0
                                  ? absl::ZeroDuration()
                                  : absl::Nanoseconds(self.cpu_nanos);
        stack.self.state = states.Of(self);
        stack.available = !stack.pcs.empty();
        stack.unavailable_reason = stack.available ? "" : kNoFrame;
        answered.push_back(stack.tid);
        break;
      case internal::SlotOutcome::kUnanswered:
        if (stack.unavailable_reason.empty()) {
          stack.unavailable_reason = NoAnswerReason(
              c.task_dir_fd, kTaskDir, stack.tid, c.signal, c.deadline, "");
        }
        break;
      case internal::SlotOutcome::kStillWriting:
        stack.unavailable_reason =
            NoAnswerReason(c.task_dir_fd, kTaskDir, stack.tid, c.signal,
                           c.deadline, kStillUnwinding);
        break;
    }
  }
  return answered;
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
  if (!stack->available) stack->unavailable_reason = kNoFrame;
}

// Not inlined: CaptureSelf skips this frame.
ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<std::vector<ThreadStack>> CaptureImpl(
    absl::Span<const pid_t> tids, const StackCaptureOptions& options) {
  // The capture lock, the slots' atomics, and installing the signal handler
  // (TSan acquires the sigaction state before it runs a handler) must not
  // order the program's threads with this one.
  internal::HiddenFromTsan hidden;
  absl::StatusOr<const internal::LibUnwind*> lib = LoadUnwinder(options);
  if (!lib.ok()) return lib.status();
  Capture c;
  c.deadline = std::max(options.deadline, absl::ZeroDuration());
  if (absl::Status locked = LockCaptures(c.deadline); !locked.ok()) {
    return locked;
  }
  absl::Cleanup unlock = [] { capture_lock.Unlock(); };
  absl::Cleanup closer = [&c] {
    if (c.task_dir_fd >= 0) close(c.task_dir_fd);
  };
  if (absl::Status started = StartCapture(options, c); !started.ok()) {
    return started;
  }

  std::vector<size_t> self;
  const std::vector<size_t> to_ask = ChooseThreadsToAsk(tids, c, &self);
  const std::vector<Request> requests = SendRequests(*lib, to_ask, c);
  // Our own stack, while the others answer.
  for (size_t i : self) CaptureSelf(c.max_frames, &c.results[i]);
  std::vector<Request> unsettled = requests;
  AwaitAnswers(c, &unsettled);
  RememberAnswers(tids, CollectAnswers(requests, c));
  return std::move(c.results);
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
