// A timeline of this process for Perfetto UI (ui.perfetto.dev) and
// chrome://tracing, as Chrome trace-event JSON: one track with a slice per
// scope (a test), one track per thread from its creation to its end, named,
// with who created it, where, and during which scope, and the registry's
// tasks (runtime/task_registry.h) as async slices from registration to end,
// those that ended as well as those still live. A leaked thread visibly
// runs past the end of the test that started it.
//
//   taskleak::StartTimeline();
//   taskleak::BeginTimelineScope("PoolTest.Shutdown");
//   ...  // the test
//   taskleak::EndTimelineScope();
//   std::ofstream("taskleak-timeline.json") << taskleak::TimelineJson();
//
// The data is what //runtime:thread_origin and the task registry record
// anyway: each thread's creation (time, creator, stack) and each task's
// registration; once the timeline is started, a thread's end is noted by
// the ending thread itself in the interposer's exit hook, and a task's end
// by whoever ends it, both hidden from ThreadSanitizer; no thread of our
// own. Threads that ended before StartTimeline, or were not created through
// pthread_create, appear only if still alive at the end, from their start
// time; tasks that ended before StartTimeline do not appear.
// Cost (//runtime:timeline_benchmark, -c opt, 2 shared cores, medians of
// 10 repetitions, the middle of 3 runs): a thread's start and end take 1-4
// us more CPU with the timeline on (35.2 us against 34.1 us; an earlier
// run: 35.7 against 31.7), plus a copy of its creation stack kept (about
// 0.1-0.6 KiB per ended thread); a task's registration and end take about
// 0.11 us more (148 ns against 34.5 ns; on two threads at once 140-153 ns
// each), plus 128 bytes kept per ended task; a test's begin and end
// together take about 0.05 us of CPU (0.15 us wall). Off, the interposer
// and the registry each check one null pointer.

#ifndef TASKLEAK_RUNTIME_TIMELINE_H_
#define TASKLEAK_RUNTIME_TIMELINE_H_

#include <string>

#include "absl/strings/string_view.h"
#include "taskleak/runtime/dump.h"

namespace taskleak {

// Starts recording thread ends (and the time origin). Idempotent.
// Thread-safe.
void StartTimeline();

// Whether StartTimeline was called. Thread-safe.
bool TimelineStarted();

// A scope (a test) begins or ends now. Scopes do not nest: Begin ends an
// open scope first. Ignored before StartTimeline. Thread-safe.
void BeginTimelineScope(absl::string_view name);
void EndTimelineScope();

// The trace-event JSON of everything recorded so far; threads and tasks
// still alive are drawn up to now. Symbolizes creation sites (cached per
// stack). Thread-safe; not async-signal-safe.
std::string TimelineJson();

// The same for a process ending abnormally, from the forked copy in which
// the watchdog writes its hang report (runtime/signal_dump.h):
// the threads and tasks alive are those of `dump`, and everything still
// open (the hung test among them) ends at dump.taken_at. Waits for no lock:
// if a thread of the original process held the timeline's lock when it was
// copied, what had ended and the tests are left out (said in the JSON's
// otherData). Not async-signal-safe.
std::string TimelineJsonAtDump(const ProcessDump& dump);

// Ended threads kept, and scopes kept; later ones are counted (threads) or
// left out (scopes). Ended tasks kept; later ones are counted.
inline constexpr int kMaxTimelineThreads = 100000;
inline constexpr int kMaxTimelineTasks = 100000;

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_TIMELINE_H_
