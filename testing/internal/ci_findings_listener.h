// Writes the CI findings (GitHub annotations and the job summary) once every
// other listener has recorded its own: appended before them, its
// OnTestProgramEnd runs after theirs (GoogleTest calls end events in reverse
// order), so races and heap leaks found after the last test are included.

#ifndef TASKLEAK_TESTING_INTERNAL_CI_FINDINGS_LISTENER_H_
#define TASKLEAK_TESTING_INTERNAL_CI_FINDINGS_LISTENER_H_

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace taskleak {
namespace internal {

// `github_annotations`: print ::error/::warning lines; `report_dir`: where
// the summary goes (empty: none). See ci_findings.h.
std::unique_ptr<::testing::TestEventListener> MakeCiFindingsListener(
    bool github_annotations, std::string report_dir);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_INTERNAL_CI_FINDINGS_LISTENER_H_
