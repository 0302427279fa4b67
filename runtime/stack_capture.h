// Stack traces of the live threads of this process, as raw addresses.
//
// Each target thread is asked, with a real-time signal, to unwind itself in a
// signal handler; the caller collects the answers until one deadline.
// Symbolizing the addresses is a separate step.
//
//   absl::StatusOr<std::vector<taskleak::ThreadStack>> stacks =
//       taskleak::CaptureAllThreadStacks();
//   if (!stacks.ok()) return stacks.status();
//   for (const taskleak::ThreadStack& s : *stacks)
//     if (!s.available) std::cerr << s.tid << ": " << s.unavailable_reason;
//
// What the target threads see:
// - The signal interrupts whatever the thread is doing, including blocking
//   calls. The handler is installed with SA_RESTART, so read(), write(),
//   futex waits (mutexes, condition variables) and the like resume on their
//   own, but calls the kernel never restarts (nanosleep, clock_nanosleep,
//   poll, epoll_wait, select, sigtimedwait, ...) return EINTR in the target
//   thread. Code that does not retry on EINTR can observe a capture.
// - The handler stays installed for the life of the process (a request may
//   still be queued after the capture returns). It ignores every signal that
//   is not a request queued by this process, runs on the thread's alternate
//   signal stack if it has one, allocates nothing and takes no lock of ours.
//   A frame whose register state was seen before (by any thread) is stepped
//   from a lock-free cache; libunwind looks up the others, briefly blocking
//   signals and taking its own locks. Every read of the stack is checked
//   first, as libunwind's own step does, so a corrupt stack ends the walk.
// - A thread that blocks the signal (SigBlk in /proc/self/task/TID/status)
//   is reported as soon as the others have answered (within a few ms),
//   without waiting for the deadline, and never has more than one request
//   queued: later captures look at its status before asking it. A thread that
//   exits is reported as exited. A thread that cannot run the handler (stopped,
//   or held in the kernel as in vfork) is reported when the deadline passes.
//   Under ThreadSanitizer, signals are delivered only at the sanitizer's safe
//   points: threads blocked in read() or on a mutex often miss the deadline and
//   are reported so; the sanitizer's own thread blocks all signals. The
//   sanitizer also hands a late handler the context saved when the signal
//   arrived, so the stack of a thread that kept running can come out short or
//   stale.
//
// Cost: the target threads do the work, in parallel. A frame seen before
// costs no system call beyond checking a new stack page; a new one costs a
// libunwind lookup (Debian's libunwind makes two system calls per lookup).
// /proc is read only for threads that stayed silent before, and for those
// silent once the others have answered. Figures:
// runtime/stack_capture_benchmark.cc.

#ifndef TASKLEAK_RUNTIME_STACK_CAPTURE_H_
#define TASKLEAK_RUNTIME_STACK_CAPTURE_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace taskleak {

// How to capture.
struct StackCaptureOptions {
  // One deadline for the whole capture: threads that have not answered by
  // then are reported unavailable. Counted from the start of the capture,
  // after any concurrent capture it had to wait for.
  absl::Duration deadline = absl::Milliseconds(500);
  // The most frames kept per thread, innermost first: 1..4096.
  int max_frames = 64;
  // The signal that asks a thread for its stack. 0: at first use, pick the
  // highest real-time signal (SIGRTMIN..SIGRTMAX) whose handler is SIG_DFL,
  // and keep it while our handler stays installed there. Otherwise this
  // signal; the capture fails if the program installed a handler on it (or
  // ignores it). A program handler is never replaced.
  int signal = 0;
};

// One thread's stack, or why there is none.
struct ThreadStack {
  pid_t tid = 0;
  // True if `pcs` holds the thread's stack.
  bool available = false;
  // Why the stack is unavailable, e.g. "signal blocked (SigBlk in
  // /proc/self/task/TID/status has signal 64)", "thread exited", "no answer
  // within 500ms (thread state: D (disk sleep))". Empty when available.
  std::string unavailable_reason;
  // Lookup addresses (see runtime/symbolizer.h), innermost first: pcs[0] is the
  // interrupted instruction, each caller's entry is its return address - 1. For
  // the calling thread, pcs[0] lies in CaptureThreadStacks or
  // CaptureAllThreadStacks.
  std::vector<uintptr_t> pcs;
  // What the thread said about itself while it answered, so that a caller
  // needs no /proc read for it. Unset unless the thread answered.
  struct SelfReport {
    bool reported = false;
    std::string name;  // its comm, as in /proc/self/task/TID/stat
    absl::Duration cpu_time;
    // 'S' if the signal found it asleep in a system call, 'R' if running
    // its own code, '?' if its context could not tell (ThreadInfo's letters).
    char state = '?';
  } self;
};

// Captures the stacks of the given threads of this process, in the order
// given. The calling thread may be among them (it unwinds itself directly).
// Returns an error only if no capture is possible at all: libunwind cannot be
// loaded, no signal is free (or `options.signal` has a program handler),
// /proc/self/task is unreadable, the options are invalid, or a concurrent
// capture held the machinery for more than 2 * deadline + 1 s. Problems with
// one thread (exited, signal blocked, no answer by the deadline) are reported
// in its ThreadStack. Returns by the deadline plus a few /proc reads per
// unanswered thread, whatever the threads do.
//
// Thread-safe: concurrent captures run one after the other, each with its
// full deadline counted once its turn comes (a thread waiting for its turn
// still answers the capture under way). Not async-signal-safe: never call it
// from a signal handler.
absl::StatusOr<std::vector<ThreadStack>> CaptureThreadStacks(
    absl::Span<const pid_t> tids, const StackCaptureOptions& options = {});

// Captures every live thread of the process, as listed by ListThreadIds()
// (runtime/thread_list.h) at the start of the call, the calling thread
// included. Same contract as CaptureThreadStacks.
absl::StatusOr<std::vector<ThreadStack>> CaptureAllThreadStacks(
    const StackCaptureOptions& options = {});

// The signal stack capture last installed its handler on, or 0 before the
// first capture. Thread-safe and async-signal-safe.
int ActiveStackCaptureSignal();

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_STACK_CAPTURE_H_
