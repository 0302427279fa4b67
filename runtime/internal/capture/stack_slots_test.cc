// The slot protocol without signals: generations keep a late answer out of
// a later capture, and a preallocated pool stays within its memory.

#include "taskleak/runtime/internal/capture/stack_slots.h"

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

}  // namespace
}  // namespace internal
}  // namespace taskleak
