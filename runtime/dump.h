// Goroutine-dump-style reports of threads and live tasks: for every thread
// its name, state, age, where it is now, and the chain of threads that
// created it; threads with identical stacks are grouped.
//
//   absl::StatusOr<taskleak::ProcessDump> dump = taskleak::DumpProcess();
//   if (dump.ok()) std::cerr << taskleak::FormatDumpText(*dump);
//
// Dumps on a signal (kill -QUIT) and for hung tests: runtime/signal_dump.h.
//
// JSON schema (FormatDumpJson), every field always present:
//   {"taken_at": "RFC3339", "threads": [Thread...], "tasks": [Task...]}
//   Thread: {"tid": int, "name": str, "state": str, "age_s": float,
//            "cpu_s": float, "stack_available": bool,
//            "stack_unavailable_reason": str, "stack": [Frame...],
//            "frames_omitted": int, "created_by": [Creator...],
//            "group_size": int, "group": [{"tid": int, "name": str}...]}
//   Creator: {"tid": int, "name": str, "created_at": "RFC3339",
//             "in_static_initializer": bool, "stack": [Frame...],
//             "frames_omitted": int}
//   Task: {"id": int, "kind": str, "name": str, "age_s": float,
//          "creator_tid": int, "creation_stack": [Frame...],
//          "frames_omitted": int}
//   Frame: {"pc": "0x...", "function": str, "file": str, "line": int,
//           "module": str, "module_offset": "0x...", "inlined": bool,
//           "names_only": bool}
//   "names_only" marks library frames named from the symbol table alone,
//   without "file", "line" or inlined frames (SymbolizerOptions::
//   library_lines; --taskleak_symbolize=all in tests): by default, frames
//   in system libraries and GoogleTest. The program's frames have lines.
// In JSON, grouped threads appear once, with their companions in "group".

#ifndef TASKLEAK_RUNTIME_DUMP_H_
#define TASKLEAK_RUNTIME_DUMP_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "taskleak/runtime/stack_capture.h"
#include "taskleak/runtime/symbolizer.h"
#include "taskleak/runtime/task_registry.h"
#include "taskleak/runtime/thread_list.h"

namespace taskleak {

// One link of a "created by" chain.
struct ThreadCreator {
  pid_t tid = 0;
  std::string name;
  absl::Time created_at;
  // Where the thread was started, innermost frame first.
  SharedFrames stack;
  // Started while initializing a function-local static (a lazy singleton).
  bool in_static_initializer = false;
};

// Everything known about one thread at the moment of the dump.
struct ThreadDump {
  ThreadInfo info;
  bool stack_available = false;
  std::string stack_unavailable_reason;
  // Where the thread is now, innermost frame first. Threads with the same
  // stack share these frames.
  SharedFrames stack;
  // created_by[0] created this thread, created_by[1] created that one, ...
  // Empty when the creation was not recorded (see thread_origin.h).
  std::vector<ThreadCreator> created_by;
};

// A live task from the task registry.
struct TaskDump {
  TaskInfo info;
  std::vector<SymbolizedFrame> creation_stack;
};

struct ProcessDump {
  absl::Time taken_at;
  std::vector<ThreadDump> threads;
  std::vector<TaskDump> tasks;
};

struct DumpOptions {
  // How stacks are captured (deadline, signal).
  StackCaptureOptions capture;
  // Frames shown per stack; the rest are counted as "... N more frames".
  int max_frames = 32;
  // Whether to include live registry tasks in DumpProcess.
  bool include_tasks = true;
};

// The symbolized "created by" chain of the live thread `tid`; empty when
// its creation was not recorded. Thread-safe.
std::vector<ThreadCreator> CreatorsOf(pid_t tid);

// Sets the current-stack fields of `dump` from a capture of its thread,
// symbolized: what DescribeThreads does per thread, for callers that
// already hold the rest of a ThreadDump. Thread-safe.
void SetCapturedStack(const ThreadStack& stack, ThreadDump* dump);

// Symbolizes and attributes stacks already captured (by
// CaptureThreadStacks, or by the emergency dump): one ThreadDump per entry
// of `threads`, with the stack of the same tid in `stacks`, or "not
// captured". Thread-safe; not async-signal-safe.
std::vector<ThreadDump> DescribeThreads(absl::Span<const ThreadInfo> threads,
                                        absl::Span<const ThreadStack> stacks);

// Captures, symbolizes and attributes the given threads. A thread that
// cannot be captured still appears, with the reason. Thread-safe; not
// async-signal-safe. Fails only if stacks cannot be captured at all.
absl::StatusOr<std::vector<ThreadDump>> DumpThreads(
    absl::Span<const ThreadInfo> threads, const DumpOptions& options = {});

// Symbolizes tasks' creation stacks.
std::vector<TaskDump> DumpTasks(absl::Span<const TaskInfo> tasks);

// All threads of the process, and the live tasks.
absl::StatusOr<ProcessDump> DumpProcess(const DumpOptions& options = {});

// The text form. Threads in the same state whose whole stacks and creation
// stacks are identical (the same addresses) are printed once, as "N threads
// like this: ..."; if those threads were started by different threads, the
// first creator is named "(and K other threads)". At most
// options.max_frames frames are printed per stack, then "... K more frames".
// `now` sets the ages. Thread-safe; not async-signal-safe.
std::string FormatThreadsText(absl::Span<const ThreadDump> threads,
                              const DumpOptions& options = {},
                              absl::Time now = absl::Now());
std::string FormatTasksText(absl::Span<const TaskDump> tasks,
                            const DumpOptions& options = {},
                            absl::Time now = absl::Now());
std::string FormatDumpText(const ProcessDump& dump,
                           const DumpOptions& options = {});

// The JSON form documented at the top of this file, grouped as in the text
// form. Thread-safe; not async-signal-safe.
std::string FormatDumpJson(const ProcessDump& dump,
                           const DumpOptions& options = {});

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_DUMP_H_
