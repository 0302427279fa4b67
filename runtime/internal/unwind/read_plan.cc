#include "taskleak/runtime/internal/unwind/read_plan.h"

#include <cstring>

namespace taskleak {
namespace internal {
namespace {

// dwarf_reg_state_t in libunwind 1.6 on x86-64: the return address column,
// then `where` (one byte per column) and `val` (eight bytes per column) for
// 17 registers and the CFA's register and offset columns.
constexpr size_t kStateSize = 184;
constexpr size_t kWhereAt = 8;
constexpr size_t kValAt = 32;
constexpr int kColumns = 19;
constexpr int kRegisters = 17;
constexpr int kCfaRegister = 17;
constexpr int kCfaOffset = 18;
// DWARF register numbers.
constexpr uint64_t kRbp = 6;
constexpr uint64_t kRsp = 7;
constexpr uint64_t kReturnAddress = 16;
// dwarf_where_t.
enum Where : unsigned char {
  kUndefined = 0,
  kSame = 1,
  kCfaRelative = 2,
  kRegister = 3
};

// Whether the eight bytes at cfa + offset lie within [lo, hi).
bool Within(uintptr_t cfa, int64_t offset, uintptr_t lo, uintptr_t hi) {
  const __int128 at = static_cast<__int128>(cfa) + offset;
  return at >= static_cast<__int128>(lo) && at + 8 <= static_cast<__int128>(hi);
}

}  // namespace

bool DecodeReadPlan(const void* data, size_t size, ReadPlan* plan) {
  if (size != kStateSize) return false;
  const unsigned char* bytes = static_cast<const unsigned char*>(data);
  uint64_t return_column = 0;
  unsigned char where[kColumns];
  uint64_t val[kColumns];
  memcpy(&return_column, bytes, sizeof(return_column));
  memcpy(where, bytes + kWhereAt, sizeof(where));
  memcpy(val, bytes + kValAt, sizeof(val));
  if (return_column != kReturnAddress) return false;
  // The CFA is a register plus an offset, and the register is one a walk
  // knows without reading anything but the frame pointer's location.
  if (where[kCfaRegister] != kRegister ||
      (val[kCfaRegister] != kRsp && val[kCfaRegister] != kRbp)) {
    return false;
  }
  for (int i = 0; i < kRegisters; ++i) {
    if (where[i] != kUndefined && where[i] != kSame &&
        where[i] != kCfaRelative) {
      return false;  // in another register, or a DWARF expression
    }
  }
  ReadPlan p;
  p.cfa_from_rbp = val[kCfaRegister] == kRbp;
  p.cfa_offset = static_cast<int64_t>(val[kCfaOffset]);
  switch (where[kReturnAddress]) {
    case kUndefined:
      break;  // the outermost frame
    case kCfaRelative:
      p.reads_return_address = true;
      p.return_address_offset = static_cast<int64_t>(val[kReturnAddress]);
      break;
    default:
      return false;
  }
  switch (where[kRbp]) {
    case kUndefined:
      p.rbp = ReadPlan::Rbp::kUndefined;
      break;
    case kSame:
      p.rbp = ReadPlan::Rbp::kSame;
      break;
    default:  // kCfaRelative: the others were ruled out above
      p.rbp = ReadPlan::Rbp::kSaved;
      p.rbp_offset = static_cast<int64_t>(val[kRbp]);
      break;
  }
  *plan = p;
  return true;
}

bool ReadsWithin(const ReadPlan& plan, uintptr_t cfa, uintptr_t lo,
                 uintptr_t hi) {
  if (plan.reads_return_address &&
      !Within(cfa, plan.return_address_offset, lo, hi)) {
    return false;
  }
  if (plan.rbp == ReadPlan::Rbp::kSaved &&
      !Within(cfa, plan.rbp_offset, lo, hi)) {
    return false;
  }
  return true;
}

}  // namespace internal
}  // namespace taskleak
