// Parsing of /proc/<pid>/task/<tid>/stat lines, kept apart from file access
// so that malformed input can be tested directly.

#ifndef TASKLEAK_RUNTIME_INTERNAL_PROC_PROC_STAT_H_
#define TASKLEAK_RUNTIME_INTERNAL_PROC_PROC_STAT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace taskleak {
namespace internal {

struct ProcStat {
  std::string name;
  char state = '?';
  uint64_t utime_ticks = 0;
  uint64_t stime_ticks = 0;
  uint64_t start_ticks = 0;
};

// Parses one stat line. The name sits between the first '(' and the last
// ')', since names may themselves contain parentheses and spaces.
absl::StatusOr<ProcStat> ParseProcStat(absl::string_view line);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_PROC_PROC_STAT_H_
