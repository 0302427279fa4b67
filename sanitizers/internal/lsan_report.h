// Reads LeakSanitizer's text report (what __lsan_do_recoverable_leak_check
// writes) into HeapLeaks: finds the report among other sanitizer output,
// parses each leak, and symbolizes its allocation stack with the
// allocator's and the sanitizer's frames left out (runtime/frame_format.h).
// Separate from the check so that tests can feed it recorded reports in any
// build.

#ifndef TASKLEAK_SANITIZERS_INTERNAL_LSAN_REPORT_H_
#define TASKLEAK_SANITIZERS_INTERNAL_LSAN_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "taskleak/runtime/symbolizer.h"
#include "taskleak/sanitizers/heap_leaks.h"

namespace taskleak {
namespace internal {

// Splits what the sanitizer wrote during a check into LeakSanitizer's own
// report ("==PID==ERROR: LeakSanitizer: detected memory leaks" through its
// "SUMMARY: ... leaked in ..." line, with the separator line before it)
// and everything else, which belongs to someone else.
void SplitLeakReport(absl::string_view text, std::string* leak_report,
                     std::string* other);

// One leak as the report lists it: `allocated_at` is still empty.
struct ParsedLeak {
  HeapLeak leak;
  // The printed frame addresses, innermost first: already lookup
  // addresses (pc - 1).
  std::vector<uintptr_t> pcs;
};

// The leaks of a LeakSanitizer report, in its order. Lines that are not
// part of a leak are skipped.
std::vector<ParsedLeak> ParseLeakReport(absl::string_view report);

// The allocation stack, symbolized, from the allocator's caller on and
// without the sanitizer's frames; all of it when it holds nothing but the
// allocator's frames.
std::vector<SymbolizedFrame> SymbolizeAllocationStack(
    const std::vector<uintptr_t>& pcs);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_SANITIZERS_INTERNAL_LSAN_REPORT_H_
