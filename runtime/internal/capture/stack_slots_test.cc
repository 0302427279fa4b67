// The slot protocol without signals: generations keep a late answer out of
// a later capture, and a preallocated pool stays within its memory.

#include "taskleak/runtime/internal/capture/stack_slots.h"

#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "taskleak/runtime/internal/monotonic_clock.h"

namespace taskleak {
namespace internal {
namespace {

TEST(StackSlotsTest, AnAnswerAfterTheCaptureGaveUpIsIgnored) {
  static StackSlots* slots = new StackSlots;
  ASSERT_EQ(slots->Preallocate(4, 8), 0);
  slots->BeginCapture(nullptr);
  const int first = slots->ArmSlot(8);
  ASSERT_GE(first, 0);
  const uint64_t late = slots->RequestValue(first);
  slots->ReleaseSenderHold();
  EXPECT_FALSE(slots->WaitForAnswers(ToTimespec(MonotonicNanos())));
  EXPECT_EQ(slots->SettleSlot(first, MonotonicNanos()),
            SlotOutcome::kUnanswered);

  slots->BeginCapture(nullptr);
  const int second = slots->ArmSlot(8);
  ASSERT_GE(second, 0);
  slots->AnswerRequest(late, nullptr);  // the first capture's request
  EXPECT_FALSE(slots->SlotAnswered(second));
  slots->AnswerRequest(slots->RequestValue(second), nullptr);
  EXPECT_TRUE(slots->SlotAnswered(second));
  slots->ReleaseSenderHold();
  EXPECT_TRUE(slots->WaitForAnswers(ToTimespec(MonotonicNanos())));
  std::vector<uintptr_t> pcs = {1, 2, 3};
  EXPECT_EQ(slots->FinishSlot(second, MonotonicNanos(), &pcs),
            SlotOutcome::kAnswered);
  EXPECT_TRUE(pcs.empty());  // no unwinder: an answer without frames
}

TEST(StackSlotsTest, APreallocatedPoolArmsOnlyItsSlots) {
  static StackSlots* slots = new StackSlots;
  ASSERT_EQ(slots->Preallocate(2, 4), 0);
  slots->BeginCapture(nullptr);
  EXPECT_GE(slots->ArmSlot(1000), 0);  // cut to the 4 frames reserved
  EXPECT_GE(slots->ArmSlot(4), 0);
  EXPECT_EQ(slots->ArmSlot(4), -1);
  slots->ReleaseSenderHold();
}

TEST(StackSlotsTest, AMalformedRequestIsIgnored) {
  static StackSlots* slots = new StackSlots;
  ASSERT_EQ(slots->Preallocate(1, 4), 0);
  slots->BeginCapture(nullptr);
  const int slot = slots->ArmSlot(4);
  ASSERT_EQ(slot, 0);
  slots->AnswerRequest(slots->RequestValue(slot) + 5, nullptr);  // index 5
  EXPECT_FALSE(slots->SlotAnswered(slot));
  EXPECT_TRUE(slots->DisarmSlot(slot));
  slots->ReleaseSenderHold();
  EXPECT_TRUE(slots->WaitForAnswers(ToTimespec(MonotonicNanos())));
}

// An unwinder that holds its caller until released, as a preempted handler
// would.
std::atomic<bool> unwinding{false};
std::atomic<bool> release{false};

int HeldInit(unw_cursor_t*, unw_context_t*, int) {
  unwinding = true;
  while (!release) usleep(1000);
  return -1;  // no frame
}

// The emergency dump once re-armed such a slot for its next dump, so that
// two handlers could write one frame buffer; the shared protocol passes it
// by.
TEST(StackSlotsTest, ASlotStillBeingWrittenIsPassedByTheNextCapture) {
  static StackSlots* slots = new StackSlots;
  ASSERT_EQ(slots->Preallocate(2, 4), 0);
  static LibUnwind held = {};
  held.init_local2 = HeldInit;
  slots->BeginCapture(&held);
  const int first = slots->ArmSlot(4);
  ASSERT_EQ(first, 0);
  const uint64_t request = slots->RequestValue(first);
  slots->ReleaseSenderHold();
  // Never unwound (the held unwinder gives up first); the handler's report
  // on itself reads its registers (a zero pc: state '?').
  ucontext_t context = {};
  std::thread handler([&] { slots->AnswerRequest(request, &context); });
  while (!unwinding) usleep(1000);
  EXPECT_EQ(slots->SettleSlot(first, MonotonicNanos()),
            SlotOutcome::kStillWriting);

  slots->BeginCapture(&held);
  EXPECT_EQ(slots->ArmSlot(4), 1);  // not the slot being written
  EXPECT_EQ(slots->ArmSlot(4), -1);
  release = true;
  handler.join();
  // The late answer lands in the old generation only.
  EXPECT_FALSE(slots->SlotAnswered(1));
  EXPECT_TRUE(slots->DisarmSlot(1));
  slots->ReleaseSenderHold();
  EXPECT_TRUE(slots->WaitForAnswers(ToTimespec(MonotonicNanos())));
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
