#include "taskleak/runtime/internal/unwind/read_plan.h"

#include <cstring>

#include "gtest/gtest.h"

namespace taskleak {
namespace internal {
namespace {

// A dwarf_reg_state_t of libunwind 1.6 on x86-64, built by hand.
struct State {
  unsigned char bytes[184] = {};
  State() {
    const uint64_t return_column = 16;
    memcpy(bytes, &return_column, sizeof(return_column));
    for (int i = 0; i < 17; ++i) Set(i, 1, 0);  // every register the same
  }
  void Set(int column, unsigned char where, int64_t val) {
    bytes[8 + column] = where;
    memcpy(bytes + 32 + 8 * column, &val, sizeof(val));
  }
};

constexpr unsigned char kUndefined = 0, kCfaRelative = 2, kRegister = 3,
                        kExpression = 4;

TEST(ReadPlanTest, DecodesAFrameWithoutAFramePointer) {
  State s;
  s.Set(17, kRegister, 7);  // CFA = rsp + 24
  s.Set(18, 0, 24);
  s.Set(16, kCfaRelative, -8);  // return address
  s.Set(3, kCfaRelative, -16);  // rbx, never read
  ReadPlan plan;
  ASSERT_TRUE(DecodeReadPlan(s.bytes, sizeof(s.bytes), &plan));
  EXPECT_FALSE(plan.known);
  EXPECT_FALSE(plan.cfa_from_rbp);
  EXPECT_EQ(plan.cfa_offset, 24);
  EXPECT_TRUE(plan.reads_return_address);
  EXPECT_EQ(plan.return_address_offset, -8);
  EXPECT_EQ(plan.rbp, ReadPlan::Rbp::kSame);
}

TEST(ReadPlanTest, DecodesAFrameWithAFramePointer) {
  State s;
  s.Set(17, kRegister, 6);  // CFA = rbp + 16
  s.Set(18, 0, 16);
  s.Set(16, kCfaRelative, -8);
  s.Set(6, kCfaRelative, -16);
  ReadPlan plan;
  ASSERT_TRUE(DecodeReadPlan(s.bytes, sizeof(s.bytes), &plan));
  EXPECT_TRUE(plan.cfa_from_rbp);
  EXPECT_EQ(plan.cfa_offset, 16);
  EXPECT_EQ(plan.rbp, ReadPlan::Rbp::kSaved);
  EXPECT_EQ(plan.rbp_offset, -16);
}

TEST(ReadPlanTest, TheOutermostFrameReadsNoReturnAddress) {
  State s;
  s.Set(17, kRegister, 7);
  s.Set(18, 0, 8);
  s.Set(16, kUndefined, 0);
  s.Set(6, kUndefined, 0);
  ReadPlan plan;
  ASSERT_TRUE(DecodeReadPlan(s.bytes, sizeof(s.bytes), &plan));
  EXPECT_FALSE(plan.reads_return_address);
  EXPECT_EQ(plan.rbp, ReadPlan::Rbp::kUndefined);
}

TEST(ReadPlanTest, RejectsWhatItCannotTellBeforehand) {
  ReadPlan plan;
  State expression_cfa;  // DW_CFA_def_cfa_expression (PLT stubs, glibc)
  expression_cfa.Set(17, kExpression, 0);
  EXPECT_FALSE(DecodeReadPlan(expression_cfa.bytes, 184, &plan));
  State other_base;  // CFA from r10, as stack-realigning code has it
  other_base.Set(17, kRegister, 10);
  EXPECT_FALSE(DecodeReadPlan(other_base.bytes, 184, &plan));
  State saved_by_expression;
  saved_by_expression.Set(17, kRegister, 7);
  saved_by_expression.Set(12, kExpression, 0);
  EXPECT_FALSE(DecodeReadPlan(saved_by_expression.bytes, 184, &plan));
  State in_register;
  in_register.Set(17, kRegister, 7);
  in_register.Set(16, kRegister, 0);
  EXPECT_FALSE(DecodeReadPlan(in_register.bytes, 184, &plan));
  State other_layout;
  other_layout.Set(17, kRegister, 7);
  EXPECT_FALSE(DecodeReadPlan(other_layout.bytes, 176, &plan));
  const uint64_t column = 15;
  memcpy(other_layout.bytes, &column, sizeof(column));
  EXPECT_FALSE(DecodeReadPlan(other_layout.bytes, 184, &plan));
}

TEST(ReadPlanTest, ReadsWithinChecksEveryReadWhole) {
  ReadPlan plan;
  plan.reads_return_address = true;
  plan.return_address_offset = -8;
  plan.rbp = ReadPlan::Rbp::kSaved;
  plan.rbp_offset = -16;
  const uintptr_t lo = 0x1000, hi = 0x2000;
  EXPECT_TRUE(ReadsWithin(plan, 0x1010, lo, hi));   // reads 0x1000, 0x1008
  EXPECT_FALSE(ReadsWithin(plan, 0x100f, lo, hi));  // rbp's at 0xfff
  EXPECT_TRUE(ReadsWithin(plan, 0x2000, lo, hi));   // last word 0x1ff8
  EXPECT_FALSE(ReadsWithin(plan, 0x2001, lo, hi));  // 0x1ff9 runs past
  // Addresses that wrap around either end are out.
  EXPECT_FALSE(ReadsWithin(plan, 4, 0, hi));
  plan.return_address_offset = 16;
  EXPECT_FALSE(ReadsWithin(plan, ~uintptr_t{0} - 4, lo, ~uintptr_t{0}));
  // What is not read is not checked.
  ReadPlan none;
  EXPECT_TRUE(ReadsWithin(none, 0, lo, hi));
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
