#include "taskleak/runtime/internal/emergency/thread_capture.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <new>

#include "taskleak/runtime/internal/capture/capture_signal.h"
#include "taskleak/runtime/internal/monotonic_clock.h"
#include "taskleak/runtime/internal/proc/task_dir.h"
#include "taskleak/runtime/internal/proc/task_status.h"

namespace taskleak {
namespace internal {
namespace emergency {
namespace {

// Slots beyond one per thread: a handler of an earlier dump still writing
// holds its slot, and the next dump passes it by.
constexpr int kSpareSlots = 64;
// How long past the deadline a handler already unwinding may take to finish.
constexpr int64_t kWriterGraceNanos = 50 * 1000 * 1000;

}  // namespace

int ThreadCapture::Reserve(const LibUnwind* lib, int max_threads,
                           int max_frames) {
  const size_t bytes = sizeof(CapturedThread) * max_threads;
  // Mapped, not allocated: untouched pages cost nothing.
  void* threads = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (threads == MAP_FAILED) return errno;
  const int error = slots_.Preallocate(max_threads + kSpareSlots, max_frames);
  if (error != 0) {
    munmap(threads, bytes);
    return error;
  }
  threads_ = static_cast<CapturedThread*>(threads);
  for (int i = 0; i < max_threads; ++i) new (&threads_[i]) CapturedThread;
  PrepareToUnwind(*lib);
  lib_ = lib;
  max_threads_ = max_threads;
  max_frames_ = max_frames;
  return 0;
}

// Records `tid` and asks it for its stack (the calling thread answers
// itself from `ucontext`).
void ThreadCapture::Add(pid_t tid, int task_dir_fd, void* ucontext) {
  if (tid == self_ && skip_self_) return;
  if (count_ == max_threads_) {
    ++left_out_;
    return;
  }
  CapturedThread& thread = threads_[count_++];
  thread = CapturedThread{};
  thread.tid = tid;
  TaskStatus status;
  if (tid != self_ && task_dir_fd >= 0 &&
      ReadTaskStatusInto(task_dir_fd, tid, status_, sizeof(status_), &status) ==
          0) {
    thread.state = status.state;
    if (HasSignal(status.blocked, signal_)) {
      thread.outcome = Outcome::kBlocked;
      return;
    }
  }
  thread.slot = slots_.ArmSlot(max_frames_);
  if (thread.slot < 0) return;  // no answer
  const uint64_t value = slots_.RequestValue(thread.slot);
  if (tid == self_) {
    slots_.AnswerRequest(value, ucontext);
    return;
  }
  const int error = SendCaptureRequest(pid_, uid_, tid, signal_, value);
  if (error != 0 && slots_.DisarmSlot(thread.slot)) {
    thread.slot = -1;
    thread.outcome = error == ESRCH ? Outcome::kExited : Outcome::kSendFailed;
    thread.error = error;
  }
}

// Settles every slot still expected after the wait.
void ThreadCapture::Settle(int64_t deadline_ns) {
  const int64_t give_up =
      std::max(MonotonicNanos(), deadline_ns) + kWriterGraceNanos;
  for (int i = 0; i < count_; ++i) {
    CapturedThread& thread = threads_[i];
    if (thread.slot < 0) continue;
    switch (slots_.SettleSlot(thread.slot, give_up)) {
      case SlotOutcome::kAnswered:
        thread.outcome = Outcome::kAnswered;
        break;
      case SlotOutcome::kUnanswered:
        thread.slot = -1;
        break;
      case SlotOutcome::kStillWriting:
        thread.slot = -1;
        thread.outcome = Outcome::kStillWriting;
        break;
    }
  }
}

void ThreadCapture::CaptureAll(int signal, void* ucontext, int64_t deadline_ns,
                               bool skip_self) {
  signal_ = signal;
  skip_self_ = skip_self;
  pid_ = getpid();
  uid_ = getuid();
  self_ = static_cast<pid_t>(syscall(SYS_gettid));
  count_ = 0;
  left_out_ = 0;
  slots_.BeginCapture(lib_);
  const int dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    Add(self_, dir, ucontext);
  } else {
    ForEachTaskId(dir, dirents_, sizeof(dirents_),
                  [&](pid_t tid) { Add(tid, dir, ucontext); });
    close(dir);
  }
  slots_.ReleaseSenderHold();
  slots_.WaitForAnswers(ToTimespec(deadline_ns));
  Settle(deadline_ns);
}

}  // namespace emergency
}  // namespace internal
}  // namespace taskleak
