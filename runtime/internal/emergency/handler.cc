#include "taskleak/runtime/internal/emergency/handler.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "taskleak/runtime/internal/capture/capture_signal.h"
#include "taskleak/runtime/internal/emergency/fallback.h"
#include "taskleak/runtime/internal/emergency/forked_child.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/internal/monotonic_clock.h"
#include "taskleak/runtime/internal/thread_sanitizer.h"

namespace taskleak {
namespace internal {
namespace emergency {
namespace {

constexpr int kMaxSignal = 65;

struct State {
  Config config;
  int signal = 0;
  ThreadCapture capture;
  // The dump under way (one at a time: `busy`), for the child.
  Trigger trigger;
  std::atomic<int> busy{0};
  // The timer, owned by the thread that armed it.
  bool timer_created = false;
  timer_t timer{};
  pid_t timer_tid = 0;
  std::atomic<bool> timer_armed{false};
  // Under ThreadSanitizer: the watching thread's deadline (CLOCK_MONOTONIC
  // ns, 0 when disarmed) and its futex word.
  std::atomic<int64_t> watch_deadline{0};
  std::atomic<uint32_t> wake{0};
  // Per dump signal: re-raise after the dump.
  bool reraise[kMaxSignal] = {};
  Fallback fallback;
  // A copy of the fallback taken by the dumping handler.
  Fallback fallback_copy;
};

// Set once by Prepare, never freed: handlers may run any time.
std::atomic<State*> state{nullptr};

// The timer's signal value: tells its signals from other SI_TIMER ones.
char timer_tag;

pid_t GetTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

int64_t ToNanos(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return int64_t{1} << 62;
  return absl::ToInt64Nanoseconds(d);
}

// The child's work: the report, in ordinary code.
void ReportInChild(void* arg) {
  const State* s = static_cast<const State*>(arg);
  s->config.report(s->trigger, s->capture, s->signal);
}

// Captures, forks, waits for the child. Async-signal-safe. Returns after
// the report is written, or the budget is spent. `for_tid`: the thread the
// dump is for, if not the calling one (which is then left out).
void Dump(State* s, int signo, void* ucontext, bool dying, pid_t for_tid = 0) {
  Trigger& t = s->trigger;
  t = Trigger{};
  t.signo = signo;
  t.pid = getpid();
  t.tid = for_tid != 0 ? for_tid : GetTid();
  t.monotonic_ns = MonotonicNanos();
  clock_gettime(CLOCK_REALTIME, &t.realtime);
  const int64_t deadline = t.monotonic_ns + ToNanos(s->config.budget);
  const int64_t capture_deadline =
      std::min(deadline, t.monotonic_ns + ToNanos(s->config.capture_deadline));
  s->fallback.CopyTo(&s->fallback_copy);
  s->capture.CaptureAll(s->signal, ucontext, capture_deadline,
                        /*skip_self=*/for_tid != 0);
  t.threads_left_out = s->capture.left_out();
  const char* why = RunInForkedChild(ReportInChild, s, deadline);
  if (why != nullptr) {
    s->fallback_copy.WriteRawReport(s->capture, signo, dying, why);
  }
}

bool TryBusy(State* s) {
  int idle = 0;
  return s->busy.compare_exchange_strong(idle, 1, std::memory_order_acquire);
}

void Unbusy(State* s) { s->busy.store(0, std::memory_order_release); }

[[noreturn]] void Reraise(int signo) {
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  sigaction(signo, &action, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signo);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  syscall(SYS_tgkill, getpid(), GetTid(), signo);
  _exit(128 + signo);  // only if the default action did not end us
}

// The timer's dump, on the thread that armed it (from its handler) or, under
// ThreadSanitizer, on the watching thread for the one that armed it.
[[noreturn]] void OnTimer(State* s, void* ucontext, pid_t for_tid = 0) {
  // A SIGQUIT dump on another thread: let it finish, within the budget.
  const int64_t give_up = MonotonicNanos() + ToNanos(s->config.budget);
  while (!TryBusy(s)) {
    if (MonotonicNanos() > give_up) {
      s->fallback.CopyTo(&s->fallback_copy);
      s->fallback_copy.WriteRawReport(s->capture, 0, true,
                                      "another dump never finished");
      ExitNow(s->config.timer_exit_code);
    }
    const timespec pause = ToTimespec(10 * 1000 * 1000);
    nanosleep(&pause, nullptr);
  }
  Dump(s, 0, ucontext, /*dying=*/true, for_tid);
  ExitNow(s->config.timer_exit_code);
}

void Wake(State* s) {
  s->wake.fetch_add(1, std::memory_order_acq_rel);
  syscall(SYS_futex, &s->wake, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// The watching thread under ThreadSanitizer: waits for the deadline and
// dumps from ordinary code. Raw futex waits: TSan neither interrupts them
// nor sees them as synchronization.
void* Watch(void* arg) {
  HiddenFromTsan hidden;
  auto* s = static_cast<State*>(arg);
  for (;;) {
    const uint32_t seen = s->wake.load(std::memory_order_acquire);
    const int64_t deadline = s->watch_deadline.load(std::memory_order_acquire);
    if (deadline == 0) {
      syscall(SYS_futex, &s->wake, FUTEX_WAIT_PRIVATE, seen, nullptr, nullptr,
              0);
      continue;
    }
    const int64_t left = deadline - MonotonicNanos();
    if (left > 0) {
      const timespec wait = ToTimespec(left);
      syscall(SYS_futex, &s->wake, FUTEX_WAIT_PRIVATE, seen, &wait, nullptr, 0);
      continue;
    }
    // Claimed only if not disarmed or re-armed meanwhile.
    int64_t expected = deadline;
    if (!s->watch_deadline.compare_exchange_strong(expected, 0)) continue;
    OnTimer(s, nullptr, s->timer_tid);
  }
}

// Starts Watch with every signal blocked (it answers no capture request and
// takes no signal meant for the process), named so that the leak checks'
// built-in rules leave it alone.
absl::Status StartWatcher(State* s) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  const int error = pthread_create(&thread, nullptr, &Watch, s);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (error != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot start the timeout thread: ", strerror(error)));
  }
  pthread_setname_np(thread, "taskleak-timer");
  pthread_detach(thread);
  return absl::OkStatus();
}

void OnRequestSignal(int, siginfo_t* info, void* ucontext) {
  HiddenFromTsan hidden;  // TSan clears ignores in handlers.
  const int saved_errno = errno;
  State* s = state.load(std::memory_order_acquire);
  if (s != nullptr && info != nullptr) {
    if (info->si_code == SI_QUEUE && info->si_pid == getpid()) {
      s->capture.Answer(reinterpret_cast<uintptr_t>(info->si_value.sival_ptr),
                        ucontext);
    } else if (info->si_code == SI_TIMER &&
               info->si_value.sival_ptr == &timer_tag &&
               // Disarmed after the signal was queued: ignored.
               s->timer_armed.exchange(false, std::memory_order_acq_rel)) {
      OnTimer(s, ucontext);
    }
  }
  errno = saved_errno;
}

void OnDumpSignal(int signo, siginfo_t*, void* ucontext) {
  HiddenFromTsan hidden;  // TSan clears ignores in handlers.
  const int saved_errno = errno;
  State* s = state.load(std::memory_order_acquire);
  if (s == nullptr || signo <= 0 || signo >= kMaxSignal) {
    errno = saved_errno;
    return;
  }
  const bool reraise = s->reraise[signo];
  if (TryBusy(s)) {
    Dump(s, signo, ucontext, reraise);
    Unbusy(s);
  }
  if (reraise) Reraise(signo);
  errno = saved_errno;
}

bool IsDefault(const struct sigaction& action) {
  return (action.sa_flags & SA_SIGINFO) == 0 && action.sa_handler == SIG_DFL;
}

// Installs `handler` on `signo` if it is SIG_DFL. Returns 0, EBUSY (another
// disposition, left in place), or the errno of sigaction.
int InstallIfDefault(int signo, void (*handler)(int, siginfo_t*, void*),
                     int extra_flags) {
  struct sigaction found;
  if (sigaction(signo, nullptr, &found) != 0) return errno;
  if (!IsDefault(found)) return EBUSY;
  struct sigaction action;
  memset(&action, 0, sizeof(action));
  action.sa_sigaction = handler;
  action.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK | extra_flags;
  sigemptyset(&action.sa_mask);
  struct sigaction previous;
  if (sigaction(signo, &action, &previous) != 0) return errno;
  if (!IsDefault(previous)) {
    sigaction(signo, &previous, nullptr);
    return EBUSY;
  }
  return 0;
}

// Installs the request handler on config.signal, or on the highest free
// real-time signal. Returns the signal.
absl::StatusOr<int> InstallRequestSignal(int requested) {
  if (requested != 0) {
    const int error = InstallIfDefault(requested, OnRequestSignal, SA_NODEFER);
    if (error != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("signal ", requested, " for emergency dumps: ",
                       error == EBUSY ? "the program handles or ignores it"
                                      : strerror(error)));
    }
    return requested;
  }
  // Below any signal stack capture took: both pick from the top.
  for (int signo = SIGRTMAX; signo >= SIGRTMIN; --signo) {
    if (signo == CurrentCaptureSignal()) continue;
    if (InstallIfDefault(signo, OnRequestSignal, SA_NODEFER) == 0) {
      return signo;
    }
  }
  return absl::ResourceExhaustedError(
      "no free real-time signal for emergency dumps");
}

}  // namespace

bool Prepared() { return state.load(std::memory_order_acquire) != nullptr; }

absl::Status Prepare(const Config& config) {
  HiddenFromTsan hidden;  // sigaction() would order the handlers' threads.
  if (Prepared()) {
    return absl::AlreadyExistsError("emergency dumps are already prepared");
  }
  auto* s = new State;
  s->config = config;
  const int error =
      s->capture.Reserve(config.lib, config.max_threads, config.max_frames);
  if (error != 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot map memory for emergency dumps: ", strerror(error)));
  }
  // Published before the handler is installed: the handler reads it.
  state.store(s, std::memory_order_release);
  absl::StatusOr<int> signal = InstallRequestSignal(config.signal);
  if (!signal.ok()) {
    state.store(nullptr, std::memory_order_release);
    return signal.status();
  }
  s->signal = *signal;
  if (UnderThreadSanitizer()) return StartWatcher(s);
  return absl::OkStatus();
}

bool SignalDumpsAvailable() { return !UnderThreadSanitizer(); }

int RequestSignal() {
  State* s = state.load(std::memory_order_acquire);
  return s == nullptr ? 0 : s->signal;
}

absl::Status ArmTimer(absl::Duration after) {
  HiddenFromTsan hidden;
  State* s = state.load(std::memory_order_acquire);
  if (s == nullptr) {
    return absl::FailedPreconditionError("emergency dumps are not prepared");
  }
  if (after == absl::InfiniteDuration()) {
    DisarmTimer();
    return absl::OkStatus();
  }
  const pid_t tid = GetTid();
  if (UnderThreadSanitizer()) {
    s->timer_tid = tid;
    s->watch_deadline.store(
        MonotonicNanos() + std::max<int64_t>(ToNanos(after), 1),
        std::memory_order_release);
    Wake(s);
    return absl::OkStatus();
  }
  if (!s->timer_created || s->timer_tid != tid) {
    if (s->timer_created) {
      s->timer_armed.store(false, std::memory_order_release);
      timer_delete(s->timer);
      s->timer_created = false;
    }
    sigevent event;
    memset(&event, 0, sizeof(event));
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = s->signal;
    event.sigev_value.sival_ptr = &timer_tag;
    event._sigev_un._tid = tid;
    if (timer_create(CLOCK_MONOTONIC, &event, &s->timer) != 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("timer_create: ", strerror(errno)));
    }
    s->timer_created = true;
    s->timer_tid = tid;
  }
  itimerspec spec;
  memset(&spec, 0, sizeof(spec));
  spec.it_value = ToTimespec(std::max<int64_t>(ToNanos(after), 1));
  s->timer_armed.store(true, std::memory_order_release);
  if (timer_settime(s->timer, 0, &spec, nullptr) != 0) {
    s->timer_armed.store(false, std::memory_order_release);
    return absl::InternalError(
        absl::StrCat("timer_settime: ", strerror(errno)));
  }
  return absl::OkStatus();
}

void DisarmTimer() {
  HiddenFromTsan hidden;
  State* s = state.load(std::memory_order_acquire);
  if (s != nullptr && UnderThreadSanitizer()) {
    s->watch_deadline.store(0, std::memory_order_release);
    Wake(s);
    return;
  }
  if (s == nullptr || !s->timer_created) return;
  // First the flag: a signal delivered after this point is ignored.
  s->timer_armed.store(false, std::memory_order_release);
  itimerspec spec;
  memset(&spec, 0, sizeof(spec));
  timer_settime(s->timer, 0, &spec, nullptr);
}

absl::Status DumpOnSignal(int signo, bool reraise) {
  HiddenFromTsan hidden;
  State* s = state.load(std::memory_order_acquire);
  if (s == nullptr) {
    return absl::FailedPreconditionError("emergency dumps are not prepared");
  }
  if (signo <= 0 || signo >= kMaxSignal || signo == s->signal) {
    return absl::InvalidArgumentError(
        absl::StrCat("signal ", signo, " cannot carry emergency dumps"));
  }
  if (!SignalDumpsAvailable()) {
    // And a dump on SIGTERM could then keep a hung process from ending.
    return absl::FailedPreconditionError(
        "under ThreadSanitizer a signal is handled only once the thread that "
        "got it is in one of TSan's blocking interceptors, so a hung process "
        "could outlive SIGTERM");
  }
  s->reraise[signo] = reraise;
  const int error = InstallIfDefault(signo, OnDumpSignal, 0);
  const std::string name = sigabbrev_np(signo) != nullptr
                               ? absl::StrCat("SIG", sigabbrev_np(signo))
                               : absl::StrCat("signal ", signo);
  if (error == EBUSY) {
    return absl::FailedPreconditionError(absl::StrCat(
        name, " already has a handler (or is ignored); leaving it in place"));
  }
  if (error != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", strerror(error)));
  }
  return absl::OkStatus();
}

bool SignalIgnored(int signo) {
  struct sigaction found;
  return sigaction(signo, nullptr, &found) == 0 &&
         (found.sa_flags & SA_SIGINFO) == 0 && found.sa_handler == SIG_IGN;
}

void SetFallback(absl::string_view label, absl::string_view file_path,
                 absl::string_view file_contents) {
  State* s = state.load(std::memory_order_acquire);
  if (s != nullptr) s->fallback.Set(label, file_path, file_contents);
}

}  // namespace emergency
}  // namespace internal
}  // namespace taskleak
