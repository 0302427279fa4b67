#include "taskleak/runtime/internal/capture/stack_slots.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>

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

struct Slot {
  std::atomic<uint64_t> tag{0};
  // Set by the collector while the slot is idle or done, read by the handler
  // after it claims the slot.
  uintptr_t* pcs = nullptr;
  int capacity = 0;
  int max = 0;
  // Written by the handler before it publishes kDone.
  int count = 0;
};

constexpr int kSlotsPerChunk = 256;
constexpr int kChunks = kMaxStackSlots / kSlotsPerChunk;

// Chunks are allocated by the collector and never freed.
std::atomic<Slot*> chunks[kChunks];
std::atomic<const LibUnwind*> unwinder{nullptr};

// Outstanding requests of the current capture: (generation << 24) | count.
// Handlers decrement it only while the generation matches, so a late one
// cannot disturb a later capture.
std::atomic<uint64_t> outstanding{0};
// Bumped by whoever brings the count to zero; the collector sleeps on it.
std::atomic<uint32_t> wake_sequence{0};
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t),
              "futex word must be a plain 32-bit integer");
static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<Slot*>::is_always_lock_free,
              "handlers need lock-free atomics");

// Collector state.
uint64_t generation = 0;
int next_slot = 0;

uint64_t Tag(uint64_t gen, State state) { return (gen << 2) | state; }

Slot* FindSlot(uint64_t index) {
  if (index >= static_cast<uint64_t>(kMaxStackSlots)) return nullptr;
  Slot* chunk = chunks[index / kSlotsPerChunk].load(std::memory_order_acquire);
  return chunk == nullptr ? nullptr : &chunk[index % kSlotsPerChunk];
}

Slot& SlotAt(int index) { return *FindSlot(static_cast<uint64_t>(index)); }

void WakeCollector() {
  wake_sequence.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, &wake_sequence, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
          nullptr, 0);
}

// Counts one answer for generation `gen`, unless a newer capture began.
void CountAnswer(uint64_t gen) {
  uint64_t value = outstanding.load(std::memory_order_relaxed);
  for (;;) {
    if ((value >> kIndexBits) != gen || (value & kIndexMask) == 0) return;
    if (outstanding.compare_exchange_weak(value, value - 1,
                                          std::memory_order_acq_rel,
                                          std::memory_order_relaxed)) {
      break;
    }
  }
  if ((value & kIndexMask) == 1) WakeCollector();
}

// Runs libunwind's lazy one-time setup (its signal mask, address space and
// cache) here, before any handler needs it: that setup is not
// async-signal-safe, and ThreadSanitizer sees it race between handlers.
void InitializeOnce(const LibUnwind& lib) {
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
}

}  // namespace

void BeginCapture(const LibUnwind* lib) {
  InitializeOnce(*lib);
  ForgetRegisterStatesIfLibrariesUnloaded();
  // Release: handlers that load `unwinder` see the setup above.
  unwinder.store(lib, std::memory_order_release);
  generation = (generation + 1) & kGenerationMask;
  if (generation == 0) generation = 1;
  next_slot = 0;
  // The sender's hold keeps the count above zero while signals go out.
  outstanding.store((generation << kIndexBits) | 1, std::memory_order_release);
}

int ArmSlot(int max_frames) {
  for (; next_slot < kMaxStackSlots; ++next_slot) {
    std::atomic<Slot*>& chunk = chunks[next_slot / kSlotsPerChunk];
    if (chunk.load(std::memory_order_relaxed) == nullptr) {
      chunk.store(new Slot[kSlotsPerChunk], std::memory_order_release);
    }
    Slot& slot = SlotAt(next_slot);
    // Acquire: a late handler's writes are over before we touch the slot.
    const uint64_t tag = slot.tag.load(std::memory_order_acquire);
    // A handler from an earlier capture still writes here: leave it be.
    if ((tag & 3) == kWriting) continue;
    if (slot.capacity < max_frames) {
      // Safe to free: a handler reads `pcs` only after claiming an armed
      // slot, and this one is idle or done, so no handler holds it.
      delete[] slot.pcs;
      slot.pcs = new uintptr_t[max_frames];
      slot.capacity = max_frames;
    }
    slot.max = max_frames;
    slot.count = 0;
    outstanding.fetch_add(1, std::memory_order_relaxed);
    slot.tag.store(Tag(generation, kArmed), std::memory_order_release);
    return next_slot++;
  }
  return -1;
}

uint64_t RequestValue(int index) {
  return (generation << kIndexBits) | static_cast<uint64_t>(index);
}

bool DisarmSlot(int index) {
  uint64_t armed = Tag(generation, kArmed);
  if (!SlotAt(index).tag.compare_exchange_strong(armed, Tag(generation, kIdle),
                                                 std::memory_order_acq_rel)) {
    return false;
  }
  outstanding.fetch_sub(1, std::memory_order_acq_rel);
  return true;
}

void ReleaseSenderHold() { CountAnswer(generation); }

bool WaitForAnswers(const timespec& until) {
  for (;;) {
    const uint32_t sequence = wake_sequence.load(std::memory_order_acquire);
    if ((outstanding.load(std::memory_order_acquire) & kIndexMask) == 0) {
      return true;
    }
    // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time.
    const long rc =
        syscall(SYS_futex, &wake_sequence, FUTEX_WAIT_BITSET_PRIVATE, sequence,
                &until, nullptr, FUTEX_BITSET_MATCH_ANY);
    if (rc != 0 && errno == ETIMEDOUT) {
      return (outstanding.load(std::memory_order_acquire) & kIndexMask) == 0;
    }
  }
}

bool SlotAnswered(int index) {
  return SlotAt(index).tag.load(std::memory_order_acquire) ==
         Tag(generation, kDone);
}

SlotOutcome FinishSlot(int index, int64_t give_up_nanos,
                       std::vector<uintptr_t>* pcs) {
  Slot& slot = SlotAt(index);
  // A handler that claimed the slot finishes within microseconds unless it
  // is preempted.
  for (;;) {
    uint64_t tag = slot.tag.load(std::memory_order_acquire);
    if (tag == Tag(generation, kDone)) {
      pcs->assign(slot.pcs, slot.pcs + slot.count);
      slot.tag.store(Tag(generation, kIdle), std::memory_order_relaxed);
      return SlotOutcome::kAnswered;
    }
    if (tag == Tag(generation, kArmed)) {
      if (slot.tag.compare_exchange_strong(tag, Tag(generation, kIdle),
                                           std::memory_order_acq_rel)) {
        return SlotOutcome::kUnanswered;
      }
      continue;
    }
    if (tag != Tag(generation, kWriting)) return SlotOutcome::kUnanswered;
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec * int64_t{1000000000} + now.tv_nsec >= give_up_nanos) {
      return SlotOutcome::kStillWriting;
    }
    sched_yield();
  }
}

void AnswerRequest(uint64_t value, void* ucontext) {
  const uint64_t gen = value >> kIndexBits;
  Slot* slot = FindSlot(value & kIndexMask);
  if (slot == nullptr) return;
  uint64_t armed = Tag(gen, kArmed);
  if (!slot->tag.compare_exchange_strong(armed, Tag(gen, kWriting),
                                         std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
    return;  // Stale: the capture gave up on this slot or moved on.
  }
  const LibUnwind* lib = unwinder.load(std::memory_order_acquire);
  slot->count = lib == nullptr
                    ? 0
                    : UnwindSignalContext(*lib, ucontext, slot->pcs, slot->max);
  slot->tag.store(Tag(gen, kDone), std::memory_order_release);
  CountAnswer(gen);
}

}  // namespace internal
}  // namespace taskleak
