// The slots that signal handlers write stacks into: the one protocol every
// capture uses, for ordinary captures (runtime/stack_capture.h) and for the
// emergency dump (runtime/internal/emergency/).
//
// A pool's slots are never freed, so that a handler running after its
// capture gave up can never write into memory put to another use: a handler
// claims its slot by compare-and-swap on (generation, state) and leaves it
// alone once the generation has moved on. (A slot's frame buffer is replaced
// when a capture wants more frames, only while no handler can reach it.)

#ifndef TASKLEAK_RUNTIME_INTERNAL_CAPTURE_STACK_SLOTS_H_
#define TASKLEAK_RUNTIME_INTERNAL_CAPTURE_STACK_SLOTS_H_

#include <time.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "taskleak/runtime/internal/capture/thread_self_report.h"
#include "taskleak/runtime/internal/unwind/libunwind.h"
#include "taskleak/runtime/internal/unwind/stack_bounds.h"

namespace taskleak {
namespace internal {

// The most slots one capture can arm.
inline constexpr int kMaxStackSlots = 1 << 18;

enum class SlotOutcome {
  kAnswered,      // The handler wrote the stack.
  kUnanswered,    // No handler claimed the slot; it is disarmed now.
  kStillWriting,  // A handler claimed it but did not finish in time.
};

// Runs libunwind's lazy one-time setup (its signal mask, address space and
// cache) and drops cached register states of unloaded libraries: call in
// ordinary code before a capture, since that setup is not
// async-signal-safe, and ThreadSanitizer sees it race between handlers.
void PrepareToUnwind(const LibUnwind& lib);

class StackSlots {
 public:
  // A pool whose slots ArmSlot allocates on demand, up to kMaxStackSlots.
  constexpr StackSlots() = default;
  StackSlots(const StackSlots&) = delete;
  StackSlots& operator=(const StackSlots&) = delete;

  // Makes `count` slots of `max_frames` frames each up front, in mapped
  // memory (untouched pages cost nothing), and limits the pool to them:
  // from then on the collector side allocates nothing and is
  // async-signal-safe. Call once, on a pool no capture has used. Returns 0
  // or the errno of mmap.
  int Preallocate(int count, int max_frames);

  // Collector side. Not thread-safe: one capture at a time, serialized by
  // the caller. Not async-signal-safe unless preallocated.

  // Starts a capture: a new generation, nothing outstanding but the
  // sender's hold (see ReleaseSenderHold). `lib` is what handlers unwind
  // with (see PrepareToUnwind).
  void BeginCapture(const LibUnwind* lib);

  // Arms a free slot for up to `max_frames` frames (for a preallocated
  // pool, at most its frames) and counts it as outstanding. Returns its
  // index, or -1 if every slot is in use. `stack`, if known, is the target
  // thread's: its handler then checks the addresses it reads against it
  // (see UnwindSignalContext).
  int ArmSlot(int max_frames, const StackBounds& stack = StackBounds());

  // The value to send with the signal for slot `index`, naming the slot and
  // this capture's generation.
  uint64_t RequestValue(int index) const;

  // Takes back an armed slot whose handler has not claimed it (the signal
  // could not be sent, or the thread exited) and stops counting it. Returns
  // false if a handler already claimed it.
  bool DisarmSlot(int index);

  // Drops the hold BeginCapture took, so that the count can reach zero once
  // every armed slot is answered or disarmed. Call once, after the last
  // ArmSlot.
  void ReleaseSenderHold();

  // Waits until nothing is outstanding or CLOCK_MONOTONIC reaches `until`.
  // Returns true if nothing is outstanding.
  bool WaitForAnswers(const timespec& until);

  // True if slot `index` holds this capture's answer.
  bool SlotAnswered(int index) const;

  // Ends the handlers' use of slot `index`. A handler caught mid-write is
  // given until CLOCK_MONOTONIC reaches `give_up_nanos` to finish. An
  // answered slot's stack stays in Frames(index) until the slot is armed
  // again.
  SlotOutcome SettleSlot(int index, int64_t give_up_nanos);

  // The stack a settled, answered slot holds.
  absl::Span<const uintptr_t> Frames(int index) const;

  // What the answering thread said about itself (thread_self_report.h).
  // Valid for a settled, answered slot, like Frames(index).
  const ThreadSelfReport& SelfReport(int index) const;

  // SettleSlot, then copies an answer into `pcs` (and the thread's report
  // into `self`, if not null) and frees the slot.
  SlotOutcome FinishSlot(int index, int64_t give_up_nanos,
                         std::vector<uintptr_t>* pcs,
                         ThreadSelfReport* self = nullptr);

  // Handler side. Async-signal-safe: no allocation, no locks.

  // Unwinds the interrupted context `ucontext` into the slot named by
  // `value` if that slot is still armed for the same generation, with the
  // thread's report on itself, then counts it as answered. Does nothing for
  // a stale or malformed value.
  void AnswerRequest(uint64_t value, void* ucontext);

 private:
  struct Slot;
  static constexpr int kSlotsPerChunk = 256;
  static constexpr int kChunks = kMaxStackSlots / kSlotsPerChunk;

  Slot* FindSlot(uint64_t index) const;
  Slot& SlotAt(int index) const;
  void CountAnswer(uint64_t gen);
  void WakeCollector();

  // Chunks are allocated by the collector (or mapped by Preallocate) and
  // never freed.
  std::atomic<Slot*> chunks_[kChunks] = {};
  std::atomic<const LibUnwind*> unwinder_{nullptr};
  // Outstanding requests of the current capture: (generation << 24) |
  // count. Handlers decrement it only while the generation matches, so a
  // late one cannot disturb a later capture.
  std::atomic<uint64_t> outstanding_{0};
  // Bumped by whoever brings the count to zero; the collector sleeps on it.
  std::atomic<uint32_t> wake_sequence_{0};
  // Collector state.
  uint64_t generation_ = 0;
  int next_slot_ = 0;
  int limit_ = kMaxStackSlots;
  bool preallocated_ = false;
};

// The pool of ordinary captures (runtime/stack_capture.h), answered by the
// capture signal's handler.
StackSlots& CaptureSlots();

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_CAPTURE_STACK_SLOTS_H_
