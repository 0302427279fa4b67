// What a test binary found, kept for CI: GitHub annotations, errors for
// what failed and warnings for what --taskleak_mode=warn only reported (at
// most 10, the most important first, as GitHub shows no more per step) and a
// Markdown job summary (a table: test, kind, where, count, report file).
// The listeners record findings as tests end; the program's end (or the
// watchdog's dump, when a hang ends the process) writes them out.

#ifndef TASKLEAK_TESTING_INTERNAL_CI_FINDINGS_H_
#define TASKLEAK_TESTING_INTERNAL_CI_FINDINGS_H_

#include <string>
#include <vector>

#include "taskleak/leakcheck/leak_report.h"
#include "taskleak/runtime/symbolizer.h"
#include "taskleak/sanitizers/heap_leaks.h"
#include "taskleak/sanitizers/race_reports.h"

namespace taskleak {
namespace internal {

struct Finding {
  // In order of importance: a hang stops the suite, a race corrupts data.
  enum class Kind { kHang, kRace, kThreadLeak, kHeapLeak, kTaskLeak };
  Kind kind = Kind::kThreadLeak;
  std::string test;
  // The user's line that created, allocated or was running it (repository
  // relative), or empty if no frame is the user's.
  std::string file;
  int line = 0;
  // Threads in the group, tasks, leaked blocks, or 1.
  int count = 1;
  // One line: what happened.
  std::string message;
  // The report's file name in the report directory; may be empty.
  std::string report_file;
  // Whether it failed a test or the run: annotated as an error; otherwise
  // (--taskleak_mode=warn) as a warning.
  bool failed = true;
};

// "thread leak", "task leak", "race", "heap leak", "hang".
const char* KindName(Finding::Kind kind);

// The first frame of the user's own code (not a library frame by
// IsLibraryFrame, the rule the text report folds by) with a source line:
// sets finding->file and ->line. False if there is none.
bool LocateAtUserFrame(const std::vector<SymbolizedFrame>& frames,
                       Finding* finding);

// One finding per group of leaked threads with the same creation site (at
// that site), and one per task kind and creation site.
std::vector<Finding> LeakFindings(const LeakReport& report,
                                  const std::string& report_file);
Finding RaceFinding(const RaceReport& race, const std::string& test);
std::vector<Finding> HeapLeakFindings(const HeapLeakReport& report,
                                      const std::string& test);

// Keeps `finding` for the end of the program. Not thread-safe: call from
// the thread that runs the tests.
void RecordFinding(Finding finding);
const std::vector<Finding>& RecordedFindings();

// "::error file=F,line=L,title=T::message" lines ("::warning" for what did
// not fail) for the `max` most
// important findings (by kind, then count, then order), then, if any were
// left out, one "::notice" line saying how many more the report has.
// Findings without a user frame are annotated without a file.
std::vector<std::string> GithubAnnotations(std::vector<Finding> findings,
                                           size_t max = 10);

// A Markdown section: a heading naming `binary`, and a table row per
// finding (the most important first), cut to at most `max_bytes` with a
// last line saying how many rows were left out. Empty without findings.
std::string MarkdownSummary(std::vector<Finding> findings,
                            const std::string& binary,
                            size_t max_bytes = 64 * 1024);

// Prints the annotations to stdout with write(2) (also safe in the
// watchdog's forked child), and writes the Markdown summary to
// DIR/taskleak-summary.md (when `report_dir` is set) and appends it to
// $GITHUB_STEP_SUMMARY (when set). Returns what failed, or "".
std::string WriteCiFindings(const std::vector<Finding>& findings,
                            bool annotations, const std::string& report_dir);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_INTERNAL_CI_FINDINGS_H_
