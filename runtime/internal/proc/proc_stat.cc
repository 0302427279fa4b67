#include "taskleak/runtime/internal/proc/proc_stat.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace taskleak {
namespace internal {
namespace {

// Positions, counted from the state field (field 3 in proc(5)).
constexpr int kUtime = 14 - 3;
constexpr int kStime = 15 - 3;
constexpr int kStartTime = 22 - 3;

}  // namespace

absl::StatusOr<ProcStat> ParseProcStat(absl::string_view line) {
  const size_t open = line.find('(');
  const size_t close = line.rfind(')');
  if (open == absl::string_view::npos || close == absl::string_view::npos ||
      close < open) {
    return absl::DataLossError(
        absl::StrCat("malformed stat line (no name in parentheses): ", line));
  }
  ProcStat stat;
  stat.name = std::string(line.substr(open + 1, close - open - 1));
  std::vector<absl::string_view> fields =
      absl::StrSplit(line.substr(close + 1), ' ', absl::SkipWhitespace());
  if (fields.size() <= kStartTime || fields[0].size() != 1 ||
      !absl::SimpleAtoi(fields[kUtime], &stat.utime_ticks) ||
      !absl::SimpleAtoi(fields[kStime], &stat.stime_ticks) ||
      !absl::SimpleAtoi(fields[kStartTime], &stat.start_ticks)) {
    return absl::DataLossError(
        absl::StrCat("malformed stat line (bad fields): ", line));
  }
  stat.state = fields[0][0];
  return stat;
}

}  // namespace internal
}  // namespace taskleak
