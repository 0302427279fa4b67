// What ThreadSanitizer reported (data races, lock-order inversions, ...),
// collected as it happens and handed out later with symbolized stacks, so
// that each report can be blamed on the test that was running.
//
//   // In a binary built with -fsanitize=thread (bazel test --config=tsan):
//   taskleak::TakeRaceReports();  // discard what came before
//   RunTheCodeUnderTest();
//   taskleak::RaceReports taken = taskleak::TakeRaceReports();
//   for (const taskleak::RaceReport& race : taken.reports)
//     std::cerr << race.Text(/*max_frames=*/16);
//
// TSan prints each report itself as usual; taskleak's hook
// (__tsan_on_report) only copies it into preallocated storage: no
// allocation, no lock. Symbolizing happens in TakeRaceReports. TSan reports
// each distinct race once per process, and only unsuppressed ones.
//
// Without TSan nothing is collected and nothing costs anything:
// RaceDetectionAvailable() is false and says why.

#ifndef TASKLEAK_SANITIZERS_RACE_REPORTS_H_
#define TASKLEAK_SANITIZERS_RACE_REPORTS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "taskleak/runtime/symbolizer.h"

namespace taskleak {

// One memory access of a report.
struct RaceAccess {
  // TSan's thread number: 0 is the main thread.
  int thread = 0;
  uintptr_t address = 0;
  int size = 0;
  bool write = false;
  bool atomic = false;
  std::vector<SymbolizedFrame> stack;
};

// A thread a report mentions.
struct RaceThread {
  int thread = 0;  // TSan's number
  pid_t os_tid = 0;
  bool running = false;
  std::string name;  // as set with pthread_setname_np; may be empty
  int parent = 0;    // TSan's number of the thread that created it
  std::vector<SymbolizedFrame> created_at;
};

// One ThreadSanitizer report. Plain data: thread-compatible; the methods
// only format it (they allocate; not async-signal-safe).
struct RaceReport {
  // "data race", "heap use after free", "lock order inversion", ... (TSan's
  // kind, with spaces for dashes).
  std::string kind;
  // Current access first, then the previous one(s).
  std::vector<RaceAccess> accesses;
  std::vector<RaceThread> threads;
  // Where the memory is: "heap block of 4 bytes at 0x7b0400000000 allocated
  // by main thread", "global at 0x...", ...; empty if TSan did not say.
  std::string location;
  std::vector<SymbolizedFrame> location_stack;
  // Further stacks (lock-order inversions, signal-unsafe calls).
  std::vector<std::vector<SymbolizedFrame>> stacks;

  // "main thread" or "thread T2 (worker-1)".
  std::string ThreadName(int thread) const;
  // One line: "read of 4 bytes at 0x7b0400000000 by thread T2 (worker-1) /
  // previous write by main thread". For reports without accesses, the
  // threads involved.
  std::string Summary() const;
  // Summary, then every stack (at most `max_frames` frames each), indented
  // by two spaces; ends with a newline.
  std::string Text(int max_frames) const;
};

struct RaceReports {
  std::vector<RaceReport> reports;
  // Reports lost because they came faster than they were taken (16 are
  // kept between two calls).
  int dropped = 0;
};

// Whether TSan is linked in and calls taskleak's hook. Thread-safe.
bool RaceDetectionAvailable();

// Empty if available; otherwise one sentence saying why not. Thread-safe.
std::string RaceDetectionUnavailableReason();

// The reports TSan made since the previous call, oldest first, symbolized.
// Thread-safe; not async-signal-safe. Cheap when there is nothing to take.
RaceReports TakeRaceReports();

}  // namespace taskleak

#endif  // TASKLEAK_SANITIZERS_RACE_REPORTS_H_
