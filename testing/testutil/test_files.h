// Small helpers for tests that check what another process printed or wrote:
// reading a file, a scratch directory, and where a marker sits in a source.

#ifndef TASKLEAK_TESTING_TESTUTIL_TEST_FILES_H_
#define TASKLEAK_TESTING_TESTUTIL_TEST_FILES_H_

#include <string>

#include "absl/strings/string_view.h"

namespace taskleak {
namespace internal {

// The whole file; empty if it cannot be read.
std::string ReadFile(const std::string& path);

// A new directory under $TEST_TMPDIR (or /tmp) whose name starts with
// `prefix`; empty if it cannot be made.
std::string MakeTempDir(absl::string_view prefix);

// The 1-based number of the first line of `file` containing `text`, or -1.
int LineContaining(const std::string& file, absl::string_view text);

// "file:line" for that line. Fails the current test and returns "" if no
// line contains `text`.
std::string SourceLine(const std::string& file, absl::string_view text);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_TESTUTIL_TEST_FILES_H_
