// Heap blocks that nothing points to any more, found by LeakSanitizer at a
// moment of our choosing (after each test) instead of only at exit, each
// blamed once: a check returns only the leaks no earlier check returned.
//
//   // In a binary built with -fsanitize=address (bazel test --config=asan):
//   taskleak::FindNewHeapLeaks();  // absorb what leaked before
//   RunTheCodeUnderTest();
//   absl::StatusOr<taskleak::HeapLeakReport> report =
//       taskleak::FindNewHeapLeaks();
//   if (report.ok() && !report->clean()) std::cerr << report->Text(16);
//
// How: __lsan_do_recoverable_leak_check() with its report redirected into
// a memory file (__sanitizer_set_report_fd) and parsed. LeakSanitizer
// reports every leak still present at each check, so each reported block is
// then marked with __lsan_ignore_object: LeakSanitizer treats ignored
// blocks, and everything reachable from them, as live from then on. That
// needs the block addresses, which LeakSanitizer prints with
// report_objects=1 (taskleak's default options set it; LSAN_OPTIONS can
// override). Without them, leaks are told apart by allocation stack and
// only growth in a stack's count or bytes is new.
//
// A check stops every thread for the scan: a few milliseconds for a small
// heap, tens with 100k live blocks. The first report that has leaks in it
// also pays for LeakSanitizer's symbolizer start-up.

#ifndef TASKLEAK_SANITIZERS_HEAP_LEAKS_H_
#define TASKLEAK_SANITIZERS_HEAP_LEAKS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "taskleak/runtime/symbolizer.h"

namespace taskleak {

// Leaked blocks allocated from one stack.
struct HeapLeak {
  // Direct: nothing points to the blocks. Indirect: only other leaked
  // blocks do.
  bool direct = true;
  size_t bytes = 0;
  int blocks = 0;
  // The blocks' addresses, when LeakSanitizer listed them.
  std::vector<uintptr_t> addresses;
  // Where they were allocated, innermost first, from the allocator's caller
  // on (the allocator's own frames, "operator new" or "malloc", are left
  // out when there is anything else).
  std::vector<SymbolizedFrame> allocated_at;
  // LeakSanitizer's own frame lines, used when a frame's address could not
  // be read.
  std::vector<std::string> raw_frames;

  // The function that asked for the memory, formatted by FormatFrame;
  // empty if unknown.
  std::string AllocationSite() const;
};

// What one check found. Plain data: thread-compatible; the methods only
// format it (they allocate; not async-signal-safe).
struct HeapLeakReport {
  std::vector<HeapLeak> leaks;

  bool clean() const { return leaks.empty(); }
  size_t bytes() const;
  int blocks() const;
  // One line: "48 bytes in 3 blocks (1 direct, 2 indirect) allocated in
  // Parse() at parser.cc:40"; empty when clean.
  std::string Summary() const;
  // Summary, then each leak with its allocation stack (at most
  // `max_frames` frames), indented by two spaces; ends with a newline.
  std::string Text(int max_frames) const;
};

// Whether LeakSanitizer is linked in and turned on (detect_leaks is not 0).
// Thread-safe.
bool HeapLeakCheckAvailable();

// Empty if available; otherwise one sentence saying why not. Thread-safe.
std::string HeapLeakCheckUnavailableReason();

// Runs LeakSanitizer now and returns the leaks that no earlier call
// returned; they are never returned again. LeakSanitizer's own report goes
// into the result, not to stderr. Fails with FailedPrecondition when
// LeakSanitizer is unavailable, Internal when its report cannot be
// captured. Thread-safe (calls serialize); not async-signal-safe; stops
// every thread of the process for the duration of the scan.
absl::StatusOr<HeapLeakReport> FindNewHeapLeaks();

// Zeroes the unused stack below the caller's frame. LeakSanitizer scans the
// live part of every stack for pointers; right after a test returns, the
// frames that replace its frames hold stale copies of its pointers in slots
// nothing initialized, and a block leaked just before looks reachable (and
// once its owner is reported and ignored, stays so). FindNewHeapLeaks does
// this itself; a caller whose own frames replace the test's (a GoogleTest
// listener) calls it first, from a small frame, then does its work in a
// function it calls. Thread-safe and async-signal-safe.
void ScrubStackBelowCaller();

}  // namespace taskleak

#endif  // TASKLEAK_SANITIZERS_HEAP_LEAKS_H_
