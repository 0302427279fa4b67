#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "taskleak/runtime/internal/capture/capture_signal.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/internal/unwind/libunwind.h"
#include "taskleak/runtime/internal/write_all.h"
#include "taskleak/runtime/signal_dump.h"
#include "taskleak/runtime/symbolizer.h"
#include "taskleak/runtime/task_registry.h"
#include "taskleak/runtime/thread_list.h"

// Defined by ThreadSanitizer's runtime.
extern "C" void __tsan_init() __attribute__((weak));

namespace taskleak {
namespace {

using internal::CurrentCaptureSignal;
using internal::HiddenFromTsan;
using internal::LibUnwind;
using internal::LibUnwindError;
using internal::LoadLibUnwind;
using internal::SendCaptureRequest;
using internal::UnwindSignalContext;
using internal::WriteAll;

constexpr int kMaxFrames = 256;
constexpr int kMaxSignal = 65;
constexpr size_t kLabelSize = 1024;
constexpr size_t kPathSize = 4096;
constexpr size_t kContentsSize = 16384;

// What became of one thread's request. Written by the dumping handler only.
enum Outcome : uint8_t {
  kAnswered,
  kBlocked,
  kExited,
  kSendFailed,
  kNoAnswer,
  kStillWriting,
};

// A slot's state word: (generation << 2) | phase. A responder claims its
// slot with compare-and-swap from kArmed of the current generation, so an
// answer that comes after the dump gave up finds the slot taken back.
enum Phase : uint64_t { kIdle = 0, kArmed = 1, kWriting = 2, kDone = 3 };

uint64_t Word(uint32_t generation, Phase phase) {
  return (static_cast<uint64_t>(generation) << 2) | phase;
}

struct Slot {
  std::atomic<uint64_t> state{0};
  pid_t tid = 0;
  int count = 0;
  Outcome outcome = kNoAnswer;
  int error = 0;  // errno of a failed send
};

// The fallback text, under a sequence count (odd while it is rewritten) so
// that a dump racing with an update can copy a consistent version.
struct Fallback {
  std::atomic<uint32_t> sequence{0};
  size_t label_size = 0;
  char label[kLabelSize];
  size_t path_size = 0;
  char path[kPathSize];
  size_t contents_size = 0;
  char contents[kContentsSize];
};

struct State {
  EmergencyDumpOptions options;
  const LibUnwind* lib = nullptr;
  int signal = 0;
  int max_frames = 0;
  // kMaxEmergencyThreads slots and their frames, mapped once, never freed.
  Slot* slots = nullptr;
  uintptr_t* frames = nullptr;
  // Filled by the dumping handler (one dump at a time: `busy`).
  int slot_count = 0;
  int not_captured = 0;
  std::atomic<uint32_t> generation{0};
  std::atomic<int32_t> answered{0};
  std::atomic<int> busy{0};
  // The timer, owned by the thread that armed it.
  bool timer_created = false;
  timer_t timer{};
  pid_t timer_tid = 0;
  std::atomic<bool> timer_armed{false};
  // Per dump signal.
  AfterDump after[kMaxSignal] = {};
  Fallback fallback;
  // A copy of the fallback taken by the dumping handler.
  Fallback fallback_copy;
  // Scratch for getdents64, and for reading a thread's status, in the
  // handler.
  char scratch[8192];
  char status[4096];
};

// Set once by PrepareEmergencyDump, never freed: handlers may run any time.
std::atomic<State*> state{nullptr};

// The timer's signal value: tells its signals from other SI_TIMER ones.
char timer_tag;

pid_t GetTid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

int64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * int64_t{1000000000} + ts.tv_nsec;
}

timespec ToTimespec(int64_t nanos) {
  if (nanos < 0) nanos = 0;
  return timespec{static_cast<time_t>(nanos / 1000000000),
                  static_cast<long>(nanos % 1000000000)};
}

int64_t ToNanos(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return int64_t{1} << 62;
  return absl::ToInt64Nanoseconds(d);
}

// Text built in fixed memory, for the handler.
class Line {
 public:
  Line& Add(const char* s) {
    while (*s != '\0' && size_ < sizeof(data_)) data_[size_++] = *s++;
    return *this;
  }
  Line& Add(const char* s, size_t n) {
    for (size_t i = 0; i < n && size_ < sizeof(data_); ++i)
      data_[size_++] = s[i];
    return *this;
  }
  Line& Dec(int64_t v) {
    char digits[24];
    int n = 0;
    const bool negative = v < 0;
    uint64_t u = negative ? 0 - static_cast<uint64_t>(v) : v;
    do {
      digits[n++] = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u != 0);
    if (negative) Add("-");
    while (n > 0 && size_ < sizeof(data_)) data_[size_++] = digits[--n];
    return *this;
  }
  Line& Hex(uint64_t v) {
    char digits[16];
    int n = 0;
    do {
      digits[n++] = "0123456789abcdef"[v & 15];
      v >>= 4;
    } while (v != 0);
    Add("0x");
    while (n > 0 && size_ < sizeof(data_)) data_[size_++] = digits[--n];
    return *this;
  }
  void WriteTo(int fd) {
    WriteAll(fd, data_, size_);
    size_ = 0;
  }
  size_t size() const { return size_; }

 private:
  char data_[512];
  size_t size_ = 0;
};

// "SIGTERM", "a timeout": what set the dump off. Async-signal-safe.
void AddTrigger(Line* line, int signo) {
  const char* abbrev = signo == 0 ? nullptr : sigabbrev_np(signo);
  if (signo == 0) {
    line->Add("a timeout");
  } else if (abbrev != nullptr) {
    line->Add("SIG").Add(abbrev);
  } else {
    line->Add("signal ").Dec(signo);
  }
}

// Whether /proc/self/task/TID/status lists `signo` in SigBlk. Reads into
// s->status; async-signal-safe.
bool BlocksSignal(State* s, pid_t tid, int signo) {
  char name[64] = "/proc/self/task/";
  size_t n = strlen(name);
  char digits[16];
  int d = 0;
  uint32_t u = static_cast<uint32_t>(tid);
  do {
    digits[d++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  while (d > 0) name[n++] = digits[--d];
  memcpy(name + n, "/status", sizeof("/status"));
  const int fd = open(name, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t size = 0;
  while (size < sizeof(s->status) - 1) {
    const ssize_t r = read(fd, s->status + size, sizeof(s->status) - 1 - size);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    size += r;
  }
  close(fd);
  s->status[size] = '\0';
  const char* line = strstr(s->status, "\nSigBlk:");
  if (line == nullptr) return false;
  const char* p = line + 8;
  while (*p == ' ' || *p == '\t') ++p;
  uint64_t mask = 0;
  for (; *p != '\0' && *p != '\n'; ++p) {
    const char c = *p;
    const int digit = c >= '0' && c <= '9'   ? c - '0'
                      : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                             : -1;
    if (digit < 0) break;
    mask = (mask << 4) | digit;
  }
  return signo >= 1 && signo <= 64 && (mask >> (signo - 1)) & 1;
}

uintptr_t* FramesOf(State* s, int index) {
  return s->frames + static_cast<size_t>(index) * s->max_frames;
}

// A responder: unwinds the interrupted context into its slot.
void Answer(State* s, uint64_t value, void* ucontext) {
  const uint32_t generation = static_cast<uint32_t>(value >> 32);
  const uint32_t index = static_cast<uint32_t>(value);
  if (index >= static_cast<uint32_t>(kMaxEmergencyThreads)) return;
  Slot& slot = s->slots[index];
  uint64_t expected = Word(generation, kArmed);
  if (!slot.state.compare_exchange_strong(expected, Word(generation, kWriting),
                                          std::memory_order_acquire)) {
    return;
  }
  slot.count =
      UnwindSignalContext(*s->lib, ucontext, FramesOf(s, index), s->max_frames);
  slot.state.store(Word(generation, kDone), std::memory_order_release);
  s->answered.fetch_add(1, std::memory_order_acq_rel);
  syscall(SYS_futex, &s->answered, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// Captures every thread's stack into the slots; the calling thread's from
// `ucontext`. Async-signal-safe.
void CaptureAll(State* s, void* ucontext, int64_t deadline_ns) {
  const uint32_t generation =
      s->generation.fetch_add(1, std::memory_order_acq_rel) + 1;
  const pid_t pid = getpid();
  const uid_t uid = getuid();
  const pid_t self = GetTid();
  s->answered.store(0, std::memory_order_release);
  s->slot_count = 0;
  s->not_captured = 0;
  int expected = 0;

  auto add = [&](pid_t tid) {
    if (s->slot_count == kMaxEmergencyThreads) {
      ++s->not_captured;
      return;
    }
    const int index = s->slot_count++;
    Slot& slot = s->slots[index];
    slot.tid = tid;
    slot.count = 0;
    slot.error = 0;
    if (tid == self) {
      slot.count = ucontext == nullptr
                       ? 0
                       : UnwindSignalContext(*s->lib, ucontext,
                                             FramesOf(s, index), s->max_frames);
      slot.outcome = slot.count > 0 ? kAnswered : kNoAnswer;
      return;
    }
    if (BlocksSignal(s, tid, s->signal)) {
      slot.outcome = kBlocked;
      return;
    }
    slot.outcome = kNoAnswer;
    slot.state.store(Word(generation, kArmed), std::memory_order_release);
    ++expected;
    const int error =
        SendCaptureRequest(pid, uid, tid, s->signal,
                           (static_cast<uint64_t>(generation) << 32) | index);
    if (error != 0) {
      uint64_t armed = Word(generation, kArmed);
      if (slot.state.compare_exchange_strong(armed, Word(generation, kIdle))) {
        --expected;
        slot.outcome = error == ESRCH ? kExited : kSendFailed;
        slot.error = error;
      }
    }
  };

  const int dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    add(self);
  } else {
    for (;;) {
      const long n =
          syscall(SYS_getdents64, dir, s->scratch, sizeof(s->scratch));
      if (n <= 0) break;
      for (long offset = 0; offset < n;) {
        struct Dirent64 {
          uint64_t ino;
          int64_t off;
          unsigned short reclen;
          unsigned char type;
          char name[1];
        };
        const auto* entry =
            reinterpret_cast<const Dirent64*>(s->scratch + offset);
        offset += entry->reclen;
        pid_t tid = 0;
        const char* p = entry->name;
        if (*p < '0' || *p > '9') continue;
        for (; *p >= '0' && *p <= '9'; ++p) tid = tid * 10 + (*p - '0');
        add(tid);
      }
    }
    close(dir);
  }

  // Wait for the answers.
  for (;;) {
    const int32_t seen = s->answered.load(std::memory_order_acquire);
    if (seen >= expected) break;
    const int64_t left = deadline_ns - MonotonicNanos();
    if (left <= 0) break;
    const timespec wait = ToTimespec(left);
    syscall(SYS_futex, &s->answered, FUTEX_WAIT_PRIVATE, seen, &wait, nullptr,
            0);
  }

  for (int i = 0; i < s->slot_count; ++i) {
    Slot& slot = s->slots[i];
    if (slot.tid == self || slot.outcome != kNoAnswer) continue;
    uint64_t armed = Word(generation, kArmed);
    if (slot.state.compare_exchange_strong(armed, Word(generation, kIdle))) {
      continue;  // never answered
    }
    // Answered, or being written: give a writer a little longer.
    const int64_t give_up = MonotonicNanos() + 50 * 1000 * 1000;
    while (slot.state.load(std::memory_order_acquire) !=
               Word(generation, kDone) &&
           MonotonicNanos() < give_up) {
      const timespec pause = ToTimespec(1000 * 1000);
      nanosleep(&pause, nullptr);
    }
    slot.outcome =
        slot.state.load(std::memory_order_acquire) == Word(generation, kDone)
            ? kAnswered
            : kStillWriting;
  }
}

void CopyFallback(State* s) {
  Fallback& from = s->fallback;
  Fallback& to = s->fallback_copy;
  for (int attempt = 0; attempt < 100; ++attempt) {
    const uint32_t before = from.sequence.load(std::memory_order_acquire);
    if (before & 1) continue;
    to.label_size = std::min(from.label_size, kLabelSize);
    memcpy(to.label, from.label, to.label_size);
    to.path_size = std::min(from.path_size, kPathSize - 1);
    memcpy(to.path, from.path, to.path_size);
    to.contents_size = std::min(from.contents_size, kContentsSize);
    memcpy(to.contents, from.contents, to.contents_size);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (from.sequence.load(std::memory_order_relaxed) == before) break;
  }
  to.path[to.path_size] = '\0';
}

// The parent's own report when the child did not finish. Async-signal-safe.
void WriteFallback(State* s, int signo, bool dying, const char* why) {
  const Fallback& f = s->fallback_copy;
  Line line;
  line.Add("taskleak: ");
  AddTrigger(&line, signo);
  if (f.label_size > 0) line.Add(" while running ").Add(f.label, f.label_size);
  line.Add(": the full report was not written (")
      .Add(why)
      .Add("); raw stacks of pid ")
      .Dec(getpid())
      .Add(
          ", innermost first (addr2line -f -C -e BINARY needs the offsets "
          "from /proc/PID/maps):\n");
  line.WriteTo(STDERR_FILENO);
  for (int i = 0; i < s->slot_count; ++i) {
    const Slot& slot = s->slots[i];
    line.Add("  thread ").Dec(slot.tid).Add(":");
    if (slot.outcome == kAnswered) {
      const uintptr_t* pcs = FramesOf(s, i);
      for (int j = 0; j < slot.count; ++j) {
        line.Add(" ").Hex(pcs[j]);
        if (line.size() > 400) line.WriteTo(STDERR_FILENO);
      }
    } else {
      line.Add(" no stack");
    }
    line.Add("\n").WriteTo(STDERR_FILENO);
  }
  if (dying && f.path_size > 0) {
    const int fd = open(f.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      WriteAll(fd, f.contents, f.contents_size);
      close(fd);
      line.Add("taskleak: wrote ").Add(f.path, f.path_size).Add("\n");
    } else {
      line.Add("taskleak: cannot write ").Add(f.path, f.path_size).Add("\n");
    }
    line.WriteTo(STDERR_FILENO);
  }
}

std::string Reason(const Slot& slot, int signal, pid_t pid,
                   const ThreadInfo& info) {
  switch (slot.outcome) {
    case kAnswered:
      return "";
    case kBlocked:
      return absl::StrCat("signal blocked (SigBlk in /proc/", pid, "/task/",
                          slot.tid, "/status has signal ", signal, ")");
    case kExited:
      return "thread exited";
    case kSendFailed:
      return absl::StrCat("cannot send signal ", signal, ": ",
                          strerror(slot.error));
    case kNoAnswer:
      return absl::StrCat("no answer by the deadline (thread state: ",
                          std::string(1, info.state), " (",
                          ThreadStateName(info.state), "))");
    case kStillWriting:
      return "the thread was still unwinding its stack at the deadline";
  }
  return "unknown";
}

// The child: ordinary code from here on.
[[noreturn]] void RunChild(State* s, const EmergencyEvent& event, int done_fd) {
  ProcessDump dump;
  dump.taken_at = event.time;
  ThreadListOptions list;
  list.task_dir = absl::StrCat("/proc/", event.pid, "/task");
  for (int i = 0; i < s->slot_count; ++i) {
    const Slot& slot = s->slots[i];
    ThreadDump thread;
    absl::StatusOr<ThreadInfo> info = ReadThreadInfo(slot.tid, list);
    if (info.ok()) {
      thread.info = *std::move(info);
    } else {
      thread.info.id.tid = slot.tid;
      thread.info.name = "?";
      thread.info.start_time = event.time;
    }
    if (slot.outcome == kAnswered) {
      thread.stack_available = true;
      const uintptr_t* pcs = FramesOf(s, i);
      thread.stack = DefaultSymbolizer().SymbolizeStack(
          absl::MakeConstSpan(pcs, slot.count));
    } else {
      thread.stack_unavailable_reason =
          Reason(slot, s->signal, event.pid, thread.info);
    }
    thread.created_by = CreatorsOf(slot.tid);
    dump.threads.push_back(std::move(thread));
  }
  if (s->options.dump.include_tasks) dump.tasks = DumpTasks(ListTasks());
  s->options.reporter(event, dump);
  const char done = 1;
  WriteAll(done_fd, &done, 1);
  _exit(0);
}

// fork() runs atfork handlers and takes malloc's locks: not for a signal
// handler. _Fork (glibc 2.34) does neither; before it, the bare system call
// (which leaves glibc's cached thread id stale in the child: harmless for
// what the child does).
pid_t ForkFromHandler() {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
  return _Fork();
#else
  return static_cast<pid_t>(
      syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, 0));
#endif
}

// RunChild's arguments, for the trampoline; set in the child only.
struct ChildArguments {
  State* state;
  EmergencyEvent event;
  int done_fd;
} child_arguments;

void ChildTrampoline() {
  RunChild(child_arguments.state, child_arguments.event,
           child_arguments.done_fd);
}

// Starts the child's work. The handler may be running on a small alternate
// signal stack (sanitizers give every thread one), too small for
// symbolizing: the work gets a fresh stack of its own.
[[noreturn]] void StartChild(State* s, const EmergencyEvent& event,
                             int done_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != event.pid) _exit(1);
  child_arguments = {s, event, done_fd};
  child_arguments.event.threads_left_out = s->not_captured;
  constexpr size_t kGuard = 1 << 16;
  constexpr size_t kStack = size_t{8} << 20;
  void* stack = mmap(nullptr, kGuard + kStack, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  static ucontext_t handler_context, child_context;
  if (stack != MAP_FAILED && mprotect(stack, kGuard, PROT_NONE) == 0 &&
      getcontext(&child_context) == 0) {
    child_context.uc_stack.ss_sp = static_cast<char*>(stack) + kGuard;
    child_context.uc_stack.ss_size = kStack;
    child_context.uc_link = nullptr;
    makecontext(&child_context, ChildTrampoline, 0);
    swapcontext(&handler_context, &child_context);
  }
  // No stack to spare: the one we are on.
  RunChild(s, child_arguments.event, done_fd);
}

// Captures, forks, waits for the child. Async-signal-safe. Returns after
// the report is written, or the budget is spent.
void Dump(State* s, int signo, void* ucontext, bool dying) {
  EmergencyEvent event;
  event.signo = signo;
  event.pid = getpid();
  event.tid = GetTid();
  event.monotonic_ns = MonotonicNanos();
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  event.time = absl::TimeFromTimespec(now);
  const int64_t deadline = event.monotonic_ns + ToNanos(s->options.budget);
  const int64_t capture_deadline = std::min(
      deadline, event.monotonic_ns + ToNanos(s->options.dump.capture.deadline));
  CopyFallback(s);
  CaptureAll(s, ucontext, capture_deadline);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    WriteFallback(s, signo, dying, "cannot create a pipe");
    return;
  }
  const pid_t child = ForkFromHandler();
  if (child < 0) {
    close(fds[0]);
    close(fds[1]);
    WriteFallback(s, signo, dying, "cannot fork");
    return;
  }
  if (child == 0) {
    close(fds[0]);
    StartChild(s, event, fds[1]);
  }
  close(fds[1]);
  bool done = false;
  const char* why = "the reporting process ended early";
  for (;;) {
    const int64_t left = deadline - MonotonicNanos();
    if (left <= 0) {
      why = "out of time";
      break;
    }
    pollfd p = {fds[0], POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(left / 1000000) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char byte = 0;
    const ssize_t n = read(fds[0], &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    done = n == 1;
    break;
  }
  close(fds[0]);
  if (!done) kill(child, SIGKILL);
  while (waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (!done) WriteFallback(s, signo, dying, why);
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

void OnTimer(State* s, void* ucontext) {
  if (!s->timer_armed.exchange(false, std::memory_order_acq_rel)) return;
  // A SIGQUIT dump on another thread: let it finish, within the budget.
  const int64_t give_up = MonotonicNanos() + ToNanos(s->options.budget);
  while (!TryBusy(s)) {
    if (MonotonicNanos() > give_up) {
      CopyFallback(s);
      WriteFallback(s, 0, true, "another dump never finished");
      _exit(s->options.timer_exit_code);
    }
    const timespec pause = ToTimespec(10 * 1000 * 1000);
    nanosleep(&pause, nullptr);
  }
  Dump(s, 0, ucontext, /*dying=*/true);
  _exit(s->options.timer_exit_code);
}

void OnRequestSignal(int, siginfo_t* info, void* ucontext) {
  HiddenFromTsan hidden;  // TSan clears ignores in handlers.
  const int saved_errno = errno;
  State* s = state.load(std::memory_order_acquire);
  if (s != nullptr && info != nullptr) {
    if (info->si_code == SI_QUEUE && info->si_pid == getpid()) {
      Answer(s, reinterpret_cast<uintptr_t>(info->si_value.sival_ptr),
             ucontext);
    } else if (info->si_code == SI_TIMER &&
               info->si_value.sival_ptr == &timer_tag) {
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
  const bool reraise = s->after[signo] == AfterDump::kReraise;
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

}  // namespace

absl::Status PrepareEmergencyDump(const EmergencyDumpOptions& options) {
  HiddenFromTsan hidden;  // sigaction() would order the handlers' threads.
  if (state.load(std::memory_order_acquire) != nullptr) {
    return absl::AlreadyExistsError("emergency dumps are already prepared");
  }
  if (options.reporter == nullptr) {
    return absl::InvalidArgumentError("EmergencyDumpOptions::reporter is null");
  }
  if (options.budget <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "EmergencyDumpOptions::budget must be positive");
  }
  if (&__tsan_init != nullptr) {
    // Its handler wrapper would also keep SIGTERM from ending the process.
    return absl::FailedPreconditionError(
        "ThreadSanitizer runs a signal handler only once the thread that got "
        "the signal reaches one of its safe points, which a hung thread "
        "never does");
  }
  const LibUnwind* lib = LoadLibUnwind();
  if (lib == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot capture stacks: ", LibUnwindError()));
  }
  if (options.preload_symbolizer) SymbolizerLimitations();

  auto* s = new State;
  s->options = options;
  s->lib = lib;
  s->max_frames = std::clamp(options.dump.capture.max_frames, 1, kMaxFrames);
  const size_t slots_bytes = sizeof(Slot) * kMaxEmergencyThreads;
  const size_t frames_bytes =
      sizeof(uintptr_t) * kMaxEmergencyThreads * s->max_frames;
  // Mapped, not allocated: untouched pages cost nothing.
  void* slots = mmap(nullptr, slots_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void* frames = mmap(nullptr, frames_bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (slots == MAP_FAILED || frames == MAP_FAILED) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot map memory for emergency dumps: ", strerror(errno)));
  }
  s->slots = new (slots) Slot[kMaxEmergencyThreads];
  s->frames = static_cast<uintptr_t*>(frames);

  // Published before the handler is installed: the handler reads it.
  state.store(s, std::memory_order_release);
  const int requested = options.dump.capture.signal;
  if (requested != 0) {
    const int error = InstallIfDefault(requested, OnRequestSignal, SA_NODEFER);
    if (error != 0) {
      state.store(nullptr, std::memory_order_release);
      return absl::FailedPreconditionError(
          absl::StrCat("signal ", requested, " for emergency dumps: ",
                       error == EBUSY ? "the program handles or ignores it"
                                      : strerror(error)));
    }
    s->signal = requested;
  } else {
    // Below any signal stack capture took: both pick from the top.
    for (int signo = SIGRTMAX; signo >= SIGRTMIN; --signo) {
      if (signo == CurrentCaptureSignal()) continue;
      if (InstallIfDefault(signo, OnRequestSignal, SA_NODEFER) == 0) {
        s->signal = signo;
        break;
      }
    }
    if (s->signal == 0) {
      state.store(nullptr, std::memory_order_release);
      return absl::ResourceExhaustedError(
          "no free real-time signal for emergency dumps");
    }
  }
  return absl::OkStatus();
}

int EmergencySignal() {
  State* s = state.load(std::memory_order_acquire);
  return s == nullptr ? 0 : s->signal;
}

absl::Status ArmEmergencyTimer(absl::Duration after) {
  HiddenFromTsan hidden;
  State* s = state.load(std::memory_order_acquire);
  if (s == nullptr) {
    return absl::FailedPreconditionError("emergency dumps are not prepared");
  }
  if (after == absl::InfiniteDuration()) {
    DisarmEmergencyTimer();
    return absl::OkStatus();
  }
  const pid_t tid = GetTid();
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

void DisarmEmergencyTimer() {
  HiddenFromTsan hidden;
  State* s = state.load(std::memory_order_acquire);
  if (s == nullptr || !s->timer_created) return;
  // First the flag: a signal delivered after this point is ignored.
  s->timer_armed.store(false, std::memory_order_release);
  itimerspec spec;
  memset(&spec, 0, sizeof(spec));
  timer_settime(s->timer, 0, &spec, nullptr);
}

absl::Status DumpOnEmergencySignal(int signo, AfterDump after) {
  HiddenFromTsan hidden;
  State* s = state.load(std::memory_order_acquire);
  if (s == nullptr) {
    return absl::FailedPreconditionError("emergency dumps are not prepared");
  }
  if (signo <= 0 || signo >= kMaxSignal || signo == s->signal) {
    return absl::InvalidArgumentError(
        absl::StrCat("signal ", signo, " cannot carry emergency dumps"));
  }
  s->after[signo] = after;
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

void SetEmergencyFallback(absl::string_view label, absl::string_view file_path,
                          absl::string_view file_contents) {
  State* s = state.load(std::memory_order_acquire);
  if (s == nullptr) return;
  Fallback& f = s->fallback;
  f.sequence.fetch_add(1, std::memory_order_acq_rel);  // odd: writing
  std::atomic_thread_fence(std::memory_order_release);
  f.label_size = std::min(label.size(), kLabelSize);
  memcpy(f.label, label.data(), f.label_size);
  f.path_size = file_path.size() < kPathSize ? file_path.size() : 0;
  memcpy(f.path, file_path.data(), f.path_size);
  f.contents_size = std::min(file_contents.size(), kContentsSize);
  memcpy(f.contents, file_contents.data(), f.contents_size);
  f.sequence.fetch_add(1, std::memory_order_release);  // even: done
}

}  // namespace taskleak
