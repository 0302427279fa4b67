#include "taskleak/runtime/internal/capture/capture_signal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "taskleak/runtime/internal/capture/stack_slots.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"

namespace taskleak {
namespace internal {
namespace {

std::atomic<int> installed_signal{0};

void HandleCaptureRequest(int, siginfo_t* info, void* ucontext) {
  // TSan clears the thread's ignores while a handler runs: hide the slot
  // protocol again, or it would order this thread with the collector.
  HiddenFromTsan hidden;
  const int saved_errno = errno;
  // Only requests queued by this process are ours; anything else sent with
  // this signal (kill, another process's sigqueue) is ignored.
  if (info != nullptr && info->si_code == SI_QUEUE &&
      info->si_pid == getpid()) {
    CaptureSlots().AnswerRequest(
        reinterpret_cast<uintptr_t>(info->si_value.sival_ptr), ucontext);
  }
  errno = saved_errno;
}

bool IsOurs(const struct sigaction& action) {
  return (action.sa_flags & SA_SIGINFO) != 0 &&
         action.sa_sigaction == &HandleCaptureRequest;
}

bool IsDefault(const struct sigaction& action) {
  return (action.sa_flags & SA_SIGINFO) == 0 && action.sa_handler == SIG_DFL;
}

std::string Describe(const struct sigaction& action) {
  if ((action.sa_flags & SA_SIGINFO) == 0 && action.sa_handler == SIG_IGN) {
    return "is ignored (SIG_IGN)";
  }
  return "already has a handler installed by the program";
}

// Installs our handler on `signal` if its handler is still SIG_DFL. Returns
// 0 if ours is there afterwards, EBUSY if another disposition (in `found`)
// is, or the errno of sigaction.
int InstallIfFree(int signal, struct sigaction* found) {
  if (sigaction(signal, nullptr, found) != 0) return errno;
  if (IsOurs(*found)) return 0;
  if (!IsDefault(*found)) return EBUSY;
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_sigaction = &HandleCaptureRequest;
  // SA_RESTART: interrupted read(), futex waits and the like resume.
  // SA_ONSTACK: threads that set up an alternate stack (Go runtimes require
  // it of foreign handlers) get the handler there.
  // SA_NODEFER: the signal stays unblocked while the handler runs, so that
  // SigBlk shows only what the program blocks; otherwise a capture right
  // after another could find a thread still returning from the handler and
  // call it blocked. The handler is reentrant (each request has its slot).
  action.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  struct sigaction previous;
  if (sigaction(signal, &action, &previous) != 0) return errno;
  if (!IsDefault(previous) && !IsOurs(previous)) {
    // Someone installed a handler between our two calls: give it back.
    sigaction(signal, &previous, nullptr);
    *found = previous;
    return EBUSY;
  }
  return 0;
}

}  // namespace

absl::StatusOr<int> PrepareCaptureSignal(int requested) {
  struct sigaction found;
  if (requested != 0) {
    if (requested < 1 || requested > SIGRTMAX || requested == SIGKILL ||
        requested == SIGSTOP) {
      return absl::InvalidArgumentError(
          absl::StrCat("StackCaptureOptions::signal ", requested,
                       " is not a signal that can be handled (use 0 to pick "
                       "a free real-time signal, or one of ",
                       SIGRTMIN, "..", SIGRTMAX, ")"));
    }
    const int error = InstallIfFree(requested, &found);
    if (error != 0 && error != EBUSY) {
      return absl::InvalidArgumentError(absl::StrCat(
          "StackCaptureOptions::signal ", requested,
          " cannot be handled (sigaction: ", strerror(error), ")"));
    }
    if (error == EBUSY) {
      return absl::FailedPreconditionError(absl::StrCat(
          "signal ", requested, " ", Describe(found),
          "; stack capture never replaces it: set StackCaptureOptions::"
          "signal to a free signal, or to 0 to pick one"));
    }
    installed_signal.store(requested, std::memory_order_release);
    return requested;
  }
  const int previous = installed_signal.load(std::memory_order_acquire);
  if (previous != 0 && InstallIfFree(previous, &found) == 0) return previous;
  // From the top: programs that use real-time signals tend to start at
  // SIGRTMIN.
  for (int signal = SIGRTMAX; signal >= SIGRTMIN; --signal) {
    if (InstallIfFree(signal, &found) == 0) {
      installed_signal.store(signal, std::memory_order_release);
      return signal;
    }
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "no free real-time signal for stack capture: every signal from SIGRTMIN "
      "(",
      SIGRTMIN, ") to SIGRTMAX (", SIGRTMAX,
      ") has a handler or is ignored; set StackCaptureOptions::signal"));
}

int CurrentCaptureSignal() {
  return installed_signal.load(std::memory_order_acquire);
}

int SendCaptureRequest(pid_t pid, uid_t uid, pid_t tid, int signal,
                       uint64_t value) {
  siginfo_t info;
  memset(&info, 0, sizeof(info));
  info.si_signo = signal;
  info.si_code = SI_QUEUE;
  info.si_pid = pid;
  info.si_uid = uid;
  info.si_value.sival_ptr = reinterpret_cast<void*>(value);
  if (syscall(SYS_rt_tgsigqueueinfo, pid, tid, signal, &info) == 0) {
    return 0;
  }
  return errno;
}

}  // namespace internal
}  // namespace taskleak
