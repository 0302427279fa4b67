// The slots that signal handlers write stacks into. One process-wide pool,
// allocated on demand and never freed, so that a handler running after its
// capture gave up can never write into memory put to another use: a handler
// claims its slot by compare-and-swap on (generation, state) and leaves it
// alone once the generation has moved on. (A slot's frame buffer is replaced
// when a capture wants more frames, only while no handler can reach it.)

#ifndef TASKLEAK_RUNTIME_INTERNAL_CAPTURE_STACK_SLOTS_H_
#define TASKLEAK_RUNTIME_INTERNAL_CAPTURE_STACK_SLOTS_H_

#include <time.h>

#include <cstdint>
#include <vector>

#include "taskleak/runtime/internal/unwind/libunwind.h"

namespace taskleak {
namespace internal {

// The most slots one capture can arm.
inline constexpr int kMaxStackSlots = 1 << 18;

// Collector side. Not thread-safe: one capture at a time, serialized by the
// caller. Not async-signal-safe.

// Starts a capture: a new generation, nothing outstanding but the sender's
// hold (see ReleaseSenderHold). `lib` is what handlers unwind with.
void BeginCapture(const LibUnwind* lib);

// Arms a free slot for up to `max_frames` frames and counts it as
// outstanding. Returns its index, or -1 if all kMaxStackSlots are in use.
int ArmSlot(int max_frames);

// The value to send with the signal for slot `index`, naming the slot and
// this capture's generation.
uint64_t RequestValue(int index);

// Takes back an armed slot whose handler has not claimed it (the signal could
// not be sent, or the thread exited) and stops counting it. Returns false if
// a handler already claimed it.
bool DisarmSlot(int index);

// Drops the hold BeginCapture took, so that the count can reach zero once
// every armed slot is answered or disarmed. Call once, after the last ArmSlot.
void ReleaseSenderHold();

// Waits until nothing is outstanding or CLOCK_MONOTONIC reaches `until`.
// Returns true if nothing is outstanding.
bool WaitForAnswers(const timespec& until);

// True if slot `index` holds this capture's answer.
bool SlotAnswered(int index);

enum class SlotOutcome {
  kAnswered,      // The handler wrote the stack; it is in `pcs`.
  kUnanswered,    // No handler claimed the slot; it is disarmed now.
  kStillWriting,  // A handler claimed it but did not finish in time.
};

// Ends the capture's use of slot `index`, copying an answer into `pcs`. A
// handler caught mid-write is given until CLOCK_MONOTONIC reaches
// `give_up_nanos` to finish.
SlotOutcome FinishSlot(int index, int64_t give_up_nanos,
                       std::vector<uintptr_t>* pcs);

// Handler side. Async-signal-safe: no allocation, no locks.

// Unwinds the interrupted context `ucontext` into the slot named by `value`
// if that slot is still armed for the same generation, then counts it as
// answered. Does nothing for a stale or malformed value.
void AnswerRequest(uint64_t value, void* ucontext);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_CAPTURE_STACK_SLOTS_H_
