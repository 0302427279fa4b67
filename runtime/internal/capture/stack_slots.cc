#include "taskleak/runtime/internal/capture/stack_slots.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <new>

#include "taskleak/runtime/internal/monotonic_clock.h"
#include "taskleak/runtime/internal/unwind/register_state_cache.h"

namespace taskleak {
namespace internal {
namespace {

// A slot's tag is (generation << 2) | state. Idle and done slots belong to
// the collector; an armed slot may be claimed by the handler of its
// generation, which then owns it while writing.
enum State : uint64_t { kIdle = 0, kArmed = 1, kWriting = 2, kDone = 3 };

// The request value sent with the signal: generation above the slot index.
constexpr int kIndexBits = 24;
constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;
static_assert(kMaxStackSlots <= (1 << kIndexBits), "slot index must fit");
// 40 bits of generation: more captures than a process will ever make.
constexpr uint64_t kGenerationMask = (uint64_t{1} << (64 - kIndexBits)) - 1;

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t),
              "futex word must be a plain 32-bit integer");
static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<void*>::is_always_lock_free,
              "handlers need lock-free atomics");

uint64_t Tag(uint64_t gen, State state) { return (gen << 2) | state; }

StackSlots capture_slots;

}  // namespace

struct StackSlots::Slot {
  std::atomic<uint64_t> tag{0};
  // Set by the collector while the slot is idle or done, read by the handler
  // after it claims the slot.
  uintptr_t* pcs = nullptr;
  int capacity = 0;
  int max = 0;
  // The target's stack; set by the collector with `max`.
  StackBounds stack;
  // Written by the handler before it publishes kDone.
  int count = 0;
  ThreadSelfReport self;
};

void PrepareToUnwind(const LibUnwind& lib) {
  static const bool initialized = [&lib] {
    unw_context_t context;
    unw_cursor_t cursor;
    if (lib.getcontext(&context) == 0 &&
        lib.init_local2(&cursor, &context, 0) == 0) {
      lib.step(&cursor);
    }
    return true;
  }();
  (void)initialized;
  ForgetRegisterStatesIfLibrariesUnloaded();
}

StackSlots& CaptureSlots() { return capture_slots; }

int StackSlots::Preallocate(int count, int max_frames) {
  count = std::clamp(count, 1, kMaxStackSlots);
  max_frames = std::max(max_frames, 1);
  const int chunks = (count + kSlotsPerChunk - 1) / kSlotsPerChunk;
  const size_t slots_bytes = sizeof(Slot) * kSlotsPerChunk * chunks;
  const size_t frames_bytes =
      sizeof(uintptr_t) * static_cast<size_t>(count) * max_frames;
  void* slots = mmap(nullptr, slots_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (slots == MAP_FAILED) return errno;
  void* frames = mmap(nullptr, frames_bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (frames == MAP_FAILED) {
    const int error = errno;
    munmap(slots, slots_bytes);
    return error;
  }
  Slot* all = static_cast<Slot*>(slots);
  for (int i = 0; i < kSlotsPerChunk * chunks; ++i) new (&all[i]) Slot;
  for (int i = 0; i < count; ++i) {
    all[i].pcs =
        static_cast<uintptr_t*>(frames) + static_cast<size_t>(i) * max_frames;
    all[i].capacity = max_frames;
  }
  for (int c = 0; c < chunks; ++c) {
    chunks_[c].store(all + c * kSlotsPerChunk, std::memory_order_release);
  }
  limit_ = count;
  preallocated_ = true;
  return 0;
}

StackSlots::Slot* StackSlots::FindSlot(uint64_t index) const {
  if (index >= static_cast<uint64_t>(limit_)) return nullptr;
  Slot* chunk = chunks_[index / kSlotsPerChunk].load(std::memory_order_acquire);
  return chunk == nullptr ? nullptr : &chunk[index % kSlotsPerChunk];
}

StackSlots::Slot& StackSlots::SlotAt(int index) const {
  return *FindSlot(static_cast<uint64_t>(index));
}

void StackSlots::WakeCollector() {
  wake_sequence_.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, &wake_sequence_, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

// Counts one answer for generation `gen`, unless a newer capture began.
void StackSlots::CountAnswer(uint64_t gen) {
  uint64_t value = outstanding_.load(std::memory_order_relaxed);
  for (;;) {
    if ((value >> kIndexBits) != gen || (value & kIndexMask) == 0) return;
    if (outstanding_.compare_exchange_weak(value, value - 1,
                                           std::memory_order_acq_rel,
                                           std::memory_order_relaxed)) {
      break;
    }
  }
  if ((value & kIndexMask) == 1) WakeCollector();
}

void StackSlots::BeginCapture(const LibUnwind* lib) {
  // Release: handlers that load `unwinder_` see the caller's setup.
  unwinder_.store(lib, std::memory_order_release);
  generation_ = (generation_ + 1) & kGenerationMask;
  if (generation_ == 0) generation_ = 1;
  next_slot_ = 0;
  // The sender's hold keeps the count above zero while signals go out.
  outstanding_.store((generation_ << kIndexBits) | 1,
                     std::memory_order_release);
}

int StackSlots::ArmSlot(int max_frames, const StackBounds& stack) {
  for (; next_slot_ < limit_; ++next_slot_) {
    std::atomic<Slot*>& chunk = chunks_[next_slot_ / kSlotsPerChunk];
    if (chunk.load(std::memory_order_relaxed) == nullptr) {
      chunk.store(new Slot[kSlotsPerChunk], std::memory_order_release);
    }
    Slot& slot = SlotAt(next_slot_);
    // Acquire: a late handler's writes are over before we touch the slot.
    const uint64_t tag = slot.tag.load(std::memory_order_acquire);
    // A handler from an earlier capture still writes here: leave it be.
    if ((tag & 3) == kWriting) continue;
    if (preallocated_) {
      max_frames = std::min(max_frames, slot.capacity);
    } else if (slot.capacity < max_frames) {
      // Safe to free: a handler reads `pcs` only after claiming an armed
      // slot, and this one is idle or done, so no handler holds it.
      delete[] slot.pcs;
      slot.pcs = new uintptr_t[max_frames];
      slot.capacity = max_frames;
    }
    slot.max = max_frames;
    slot.stack = stack;
    slot.count = 0;
    outstanding_.fetch_add(1, std::memory_order_relaxed);
    slot.tag.store(Tag(generation_, kArmed), std::memory_order_release);
    return next_slot_++;
  }
  return -1;
}

uint64_t StackSlots::RequestValue(int index) const {
  return (generation_ << kIndexBits) | static_cast<uint64_t>(index);
}

bool StackSlots::DisarmSlot(int index) {
  uint64_t armed = Tag(generation_, kArmed);
  if (!SlotAt(index).tag.compare_exchange_strong(armed, Tag(generation_, kIdle),
                                                 std::memory_order_acq_rel)) {
    return false;
  }
  outstanding_.fetch_sub(1, std::memory_order_acq_rel);
  return true;
}

void StackSlots::ReleaseSenderHold() { CountAnswer(generation_); }

bool StackSlots::WaitForAnswers(const timespec& until) {
  for (;;) {
    const uint32_t sequence = wake_sequence_.load(std::memory_order_acquire);
    if ((outstanding_.load(std::memory_order_acquire) & kIndexMask) == 0) {
      return true;
    }
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time.
    const long rc =
        syscall(SYS_futex, &wake_sequence_, FUTEX_WAIT_BITSET_PRIVATE, sequence,
                &until, nullptr, FUTEX_BITSET_MATCH_ANY);
    if (rc != 0 && errno == ETIMEDOUT) {
      return (outstanding_.load(std::memory_order_acquire) & kIndexMask) == 0;
    }
  }
}

bool StackSlots::SlotAnswered(int index) const {
  return SlotAt(index).tag.load(std::memory_order_acquire) ==
         Tag(generation_, kDone);
}

SlotOutcome StackSlots::SettleSlot(int index, int64_t give_up_nanos) {
  Slot& slot = SlotAt(index);
  // A handler that claimed the slot finishes within microseconds unless it
  // is preempted.
  for (;;) {
    uint64_t tag = slot.tag.load(std::memory_order_acquire);
    if (tag == Tag(generation_, kDone)) return SlotOutcome::kAnswered;
    if (tag == Tag(generation_, kArmed)) {
      if (slot.tag.compare_exchange_strong(tag, Tag(generation_, kIdle),
                                           std::memory_order_acq_rel)) {
        return SlotOutcome::kUnanswered;
      }
      continue;
    }
    if (tag != Tag(generation_, kWriting)) return SlotOutcome::kUnanswered;
    if (MonotonicNanos() >= give_up_nanos) return SlotOutcome::kStillWriting;
    sched_yield();
  }
}

absl::Span<const uintptr_t> StackSlots::Frames(int index) const {
  const Slot& slot = SlotAt(index);
  return absl::MakeConstSpan(slot.pcs, slot.count);
}

const ThreadSelfReport& StackSlots::SelfReport(int index) const {
  return SlotAt(index).self;
}

SlotOutcome StackSlots::FinishSlot(int index, int64_t give_up_nanos,
                                   std::vector<uintptr_t>* pcs,
                                   ThreadSelfReport* self) {
  const SlotOutcome outcome = SettleSlot(index, give_up_nanos);
  if (outcome == SlotOutcome::kAnswered) {
    const absl::Span<const uintptr_t> frames = Frames(index);
    pcs->assign(frames.begin(), frames.end());
    if (self != nullptr) *self = SelfReport(index);
    SlotAt(index).tag.store(Tag(generation_, kIdle), std::memory_order_relaxed);
  }
  return outcome;
}

void StackSlots::AnswerRequest(uint64_t value, void* ucontext) {
  const uint64_t gen = value >> kIndexBits;
  Slot* slot = FindSlot(value & kIndexMask);
  if (slot == nullptr) return;
  uint64_t armed = Tag(gen, kArmed);
  if (!slot->tag.compare_exchange_strong(armed, Tag(gen, kWriting),
                                         std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
    return;  // Stale: the capture gave up on this slot or moved on.
  }
  const LibUnwind* lib = unwinder_.load(std::memory_order_acquire);
  // The bounds are for the thread the collector meant: a tid reused since
  // names another thread, with another stack.
  const StackBounds* stack =
      slot->stack.thread == static_cast<uintptr_t>(pthread_self())
          ? &slot->stack
          : nullptr;
  slot->count = lib == nullptr || ucontext == nullptr
                    ? 0
                    : UnwindSignalContext(*lib, ucontext, slot->pcs, slot->max,
                                          StepMode::kCached, stack);
  ReportSelf(ucontext, &slot->self);
  slot->tag.store(Tag(gen, kDone), std::memory_order_release);
  CountAnswer(gen);
}

}  // namespace internal
}  // namespace taskleak
