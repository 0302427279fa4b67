// Report files on disk for the listener and the watchdog.

#ifndef TASKLEAK_TESTING_INTERNAL_REPORT_FILES_H_
#define TASKLEAK_TESTING_INTERNAL_REPORT_FILES_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "taskleak/leakcheck/leak_report.h"
#include "taskleak/runtime/dump.h"

namespace taskleak {
namespace internal {

// Writes DIR/taskleak-NAME.txt (`text`, the report's Text()) and .json
// (NAME made safe for a file name), and for leaked threads the pictures of
// WriteThreadPictures, and returns the text file's path.
absl::StatusOr<std::string> WriteReportFiles(const std::string& dir,
                                             const std::string& name,
                                             const LeakReport& report,
                                             const std::string& text);

// Writes BASE-threads.pb.gz (runtime/pprof_profile.h) and BASE-threads.svg
// (runtime/flame_graph.h) of `threads`; `test` labels the profile's samples
// and `title` heads the flame graph.
absl::Status WriteThreadPictures(const std::string& base,
                                 absl::Span<const ThreadDump> threads,
                                 const std::string& title,
                                 const std::string& test);

// Writes `contents` to `path`, replacing what was there, with write(2)
// alone: the watchdog's forked child calls it too, where another thread's
// copy of a stdio lock may be held for ever.
absl::Status WriteFile(const std::string& path, const std::string& contents);

// Creates the directories above `path`, as GoogleTest does for its reports.
void MakeParentDirectories(const std::string& path);

// `name` with the characters a file name cannot hold replaced by '_'.
std::string SafeFileName(const std::string& name);

// Writes DIR/taskleak-summary.txt and .json: one entry per leaking test.
absl::Status WriteSummaryFiles(
    const std::string& dir,
    const std::vector<std::pair<std::string, std::string>>& leaks);

// A source path as the repository sees it: Bazel's execution root and
// /proc/self/cwd prefixes removed.
std::string RepoRelativePath(const std::string& file);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_INTERNAL_REPORT_FILES_H_
