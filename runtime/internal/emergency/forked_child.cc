#include "taskleak/runtime/internal/emergency/forked_child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "taskleak/runtime/internal/monotonic_clock.h"
#include "taskleak/runtime/internal/thread_sanitizer.h"
#include "taskleak/runtime/internal/write_all.h"

namespace taskleak {
namespace internal {
namespace emergency {
namespace {

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

// The child's work, for the trampoline; set in the child only.
struct ChildWork {
  void (*work)(void*);
  void* arg;
  int done_fd;
} child_work;

[[noreturn]] void DoWork() {
  child_work.work(child_work.arg);
  const char done = 1;
  WriteAll(child_work.done_fd, &done, 1);
  ExitNow(0);
}

void Trampoline() { DoWork(); }

// The child's side: does the work on a fresh stack of its own, or on this
// one when none can be mapped.
[[noreturn]] void StartChild(pid_t parent, void (*work)(void*), void* arg,
                             int done_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) ExitNow(1);
  child_work = {work, arg, done_fd};
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
    makecontext(&child_context, Trampoline, 0);
    swapcontext(&handler_context, &child_context);
  }
  DoWork();
}

// Waits on `fd` for the child's byte until `deadline_ns`. Returns nullptr
// once it came, else why not.
const char* AwaitDone(int fd, int64_t deadline_ns) {
  for (;;) {
    const int64_t left = deadline_ns - MonotonicNanos();
    if (left <= 0) return "out of time";
    pollfd p = {fd, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(left / 1000000) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char byte = 0;
    const ssize_t n = read(fd, &byte, 1);
    if (n < 0 && errno == EINTR) continue;
    return n == 1 ? nullptr : "the reporting process ended early";
  }
}

}  // namespace

const char* RunInForkedChild(void (*work)(void* arg), void* arg,
                             int64_t deadline_ns) {
  const pid_t parent = getpid();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return "cannot create a pipe";
  const pid_t child = ForkFromHandler();
  if (child < 0) {
    close(fds[0]);
    close(fds[1]);
    return "cannot fork";
  }
  if (child == 0) {
    close(fds[0]);
    StartChild(parent, work, arg, fds[1]);
  }
  close(fds[1]);
  const char* why = AwaitDone(fds[0], deadline_ns);
  close(fds[0]);
  if (why != nullptr) kill(child, SIGKILL);
  while (waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
  }
  return why;
}

}  // namespace emergency
}  // namespace internal
}  // namespace taskleak
