// Turns one report as ThreadSanitizer's hook copied it (sanitizer_hooks.h)
// into a RaceReport: symbolized, with TSan's and the thread plumbing's
// frames left out (runtime/frame_format.h). Separate from the hook so that
// tests can feed it recorded reports in any build.

#ifndef TASKLEAK_SANITIZERS_INTERNAL_TSAN_REPORT_H_
#define TASKLEAK_SANITIZERS_INTERNAL_TSAN_REPORT_H_

#include <vector>

#include "taskleak/runtime/symbolizer.h"
#include "taskleak/sanitizers/internal/sanitizer_hooks.h"
#include "taskleak/sanitizers/race_reports.h"

namespace taskleak {
namespace internal {

// The frames of one TSan stack, symbolized (TSan hands out return
// addresses), without the TSan runtime's frames, the frames of
// pthread_create and its interposer at the inner end and std::thread's
// plumbing at the outer end.
std::vector<SymbolizedFrame> SymbolizeTsanStack(const TsanRawStack& raw);

// The report, symbolized. A running thread TSan did not know the name of
// gets the kernel's. Not async-signal-safe.
RaceReport RaceReportFromTsan(const TsanRawReport& raw);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_SANITIZERS_INTERNAL_TSAN_REPORT_H_
