// Report files on disk and GitHub Actions annotations for the listener.

#ifndef TASKLEAK_TESTING_INTERNAL_REPORT_FILES_H_
#define TASKLEAK_TESTING_INTERNAL_REPORT_FILES_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "leakcheck/leak_report.h"

namespace taskleak {
namespace internal {

// Writes DIR/taskleak-NAME.txt and .json (NAME made safe for a file name)
// and returns the text file's path.
absl::StatusOr<std::string> WriteReportFiles(const std::string& dir,
                                             const std::string& name,
                                             const LeakReport& report);

// Writes DIR/taskleak-summary.txt and .json: one entry per leaking test.
absl::Status WriteSummaryFiles(
    const std::string& dir,
    const std::vector<std::pair<std::string, std::string>>& leaks);

// "::error file=F,line=L::message" lines, one per group of leaked threads
// (and per task with a creation stack), pointing at the first creation frame
// in the user's own code: not the standard library, not taskleak.
std::vector<std::string> GithubAnnotations(const LeakReport& report);

// A source path as the repository sees it: Bazel's execution root and
// /proc/self/cwd prefixes removed.
std::string RepoRelativePath(const std::string& file);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_INTERNAL_REPORT_FILES_H_
