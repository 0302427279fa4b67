// Every thread's stack, captured from inside a signal handler into memory
// reserved up front: the slot protocol of ordinary captures
// (runtime/internal/capture/stack_slots.h) on a pool of its own, so that a
// dump can interrupt an ordinary capture, even on the same thread.

#ifndef TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_THREAD_CAPTURE_H_
#define TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_THREAD_CAPTURE_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/types/span.h"
#include "taskleak/runtime/internal/capture/stack_slots.h"
#include "taskleak/runtime/internal/unwind/libunwind.h"

namespace taskleak {
namespace internal {
namespace emergency {

// What became of one thread's request.
enum class Outcome : uint8_t {
  kAnswered,      // its stack is in Frames()
  kBlocked,       // SigBlk has the signal: not asked
  kExited,        // gone before the request was sent
  kSendFailed,    // rt_tgsigqueueinfo failed with `error`
  kNoAnswer,      // no handler claimed the request by the deadline
  kStillWriting,  // its handler was still unwinding at the deadline
};

struct CapturedThread {
  pid_t tid = 0;
  Outcome outcome = Outcome::kNoAnswer;
  int error = 0;  // errno of a failed send
  int slot = -1;  // while a stack is expected, and once answered
  // Scheduler state letter read just before the request ('?' if unread):
  // answering wakes the thread, so /proc read afterwards says "running".
  char state = '?';
};

class ThreadCapture {
 public:
  constexpr ThreadCapture() = default;
  ThreadCapture(const ThreadCapture&) = delete;
  ThreadCapture& operator=(const ThreadCapture&) = delete;

  // Reserves memory for `max_threads` stacks of `max_frames` frames, to be
  // unwound with `lib`. Ordinary code; call once. Returns 0 or an errno.
  int Reserve(const LibUnwind* lib, int max_threads, int max_frames);

  // Lists /proc/self/task and captures each thread's stack: the calling
  // thread's from `ucontext` (or, if `skip_self`, not at all: it is left
  // out of the list), the others' by sending them `signal`, whose handler
  // calls Answer. Waits for answers until CLOCK_MONOTONIC reaches
  // `deadline_ns`. One capture at a time. Async-signal-safe.
  void CaptureAll(int signal, void* ucontext, int64_t deadline_ns,
                  bool skip_self = false);

  // The request handler's part. Async-signal-safe.
  void Answer(uint64_t value, void* ucontext) {
    slots_.AnswerRequest(value, ucontext);
  }

  // The last capture's threads, in /proc order.
  int size() const { return count_; }
  const CapturedThread& thread(int i) const { return threads_[i]; }
  // The stack of an answered thread, innermost first.
  absl::Span<const uintptr_t> Frames(int i) const {
    return slots_.Frames(threads_[i].slot);
  }
  // Threads beyond `max_threads`, not captured.
  int left_out() const { return left_out_; }

 private:
  void Add(pid_t tid, int task_dir_fd, void* ucontext);
  void Settle(int64_t deadline_ns);

  StackSlots slots_;
  const LibUnwind* lib_ = nullptr;
  CapturedThread* threads_ = nullptr;
  int max_threads_ = 0;
  int max_frames_ = 0;
  int count_ = 0;
  int left_out_ = 0;
  // Per capture.
  int signal_ = 0;
  pid_t pid_ = 0;
  uid_t uid_ = 0;
  pid_t self_ = 0;
  bool skip_self_ = false;
  // Scratch for getdents64 and for reading a thread's status.
  alignas(8) char dirents_[8192] = {};
  char status_[4096] = {};
};

}  // namespace emergency
}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_THREAD_CAPTURE_H_
