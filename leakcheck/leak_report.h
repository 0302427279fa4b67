// What a leak check found: threads, tasks and file descriptors that a scope
// (usually one test) started and left behind, in text and JSON.
//
//   absl::StatusOr<taskleak::LeakReport> report =
//       taskleak::FindLeaks(before, options, "PoolTest.Shutdown");
//   if (report.ok() && !report->clean()) {
//     std::cerr << report->Text();
//   }
//
// JSON schema (Json()):
//   {"scope": str, "summary": str, "waited_s": float, "grace_s": float,
//    "dump": Dump, "fds": [{"fd": int, "target": str}...],
//    "notes": [str...]}
// where Dump, holding the leaked threads and tasks, is runtime/dump.h's.

#ifndef TASKLEAK_LEAKCHECK_LEAK_REPORT_H_
#define TASKLEAK_LEAKCHECK_LEAK_REPORT_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "taskleak/runtime/dump.h"

namespace taskleak {

struct LeakedFd {
  int fd = -1;
  // "/path", "socket:[inode]", "pipe:[inode]", ...
  std::string target;
};

struct LeakReport {
  // Who is blamed, e.g. "PoolTest.Shutdown".
  std::string scope;
  // The grace window, and how long the check actually waited.
  absl::Duration grace;
  absl::Duration waited;
  absl::Time checked_at;
  // What is still alive and blamed on `scope`.
  std::vector<ThreadDump> threads;
  std::vector<TaskDump> tasks;
  std::vector<LeakedFd> fds;
  // Remarks that do not fail the check, such as a singleton not blamed.
  std::vector<std::string> notes;
  // How frames are shown.
  DumpOptions format;

  bool clean() const { return threads.empty() && tasks.empty() && fds.empty(); }

  // One line: "2 threads started by PoolTest.Shutdown are still running
  // after 1s: worker-0, worker-1". Empty when clean.
  std::string Summary() const;
  // The summary, then every thread (grouped), task and descriptor.
  std::string Text() const;
  // The JSON form documented above.
  std::string Json() const;
};

}  // namespace taskleak

#endif  // TASKLEAK_LEAKCHECK_LEAK_REPORT_H_
