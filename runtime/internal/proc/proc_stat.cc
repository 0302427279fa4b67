#include "taskleak/runtime/internal/proc/proc_stat.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

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
  // Walked in place, up to the last field we need, without a vector of all
  // ~50 fields.
  absl::string_view rest = line.substr(close + 1);
  absl::string_view fields[kStartTime + 1];
  int count = 0;
  size_t pos = 0;
  while (count <= kStartTime) {
    pos = rest.find_first_not_of(' ', pos);
    if (pos == absl::string_view::npos) break;
    size_t end = rest.find(' ', pos);
    if (end == absl::string_view::npos) end = rest.size();
    fields[count++] = rest.substr(pos, end - pos);
    pos = end;
  }
  if (count <= kStartTime || fields[0].size() != 1 ||
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
