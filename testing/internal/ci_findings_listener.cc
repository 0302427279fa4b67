#include "taskleak/testing/internal/ci_findings_listener.h"

#include <cstdio>
#include <string>
#include <utility>

#include "taskleak/testing/internal/ci_findings.h"

namespace taskleak {
namespace internal {
namespace {

class CiFindingsListener : public ::testing::EmptyTestEventListener {
 public:
  CiFindingsListener(bool github_annotations, std::string report_dir)
      : github_annotations_(github_annotations),
        report_dir_(std::move(report_dir)) {}

  void OnTestProgramEnd(const ::testing::UnitTest&) override {
    // Leaks, races and heap leaks of every test, the most important first.
    fflush(stdout);
    const std::string error =
        WriteCiFindings(RecordedFindings(), github_annotations_, report_dir_);
    if (!error.empty()) fprintf(stderr, "taskleak: %s", error.c_str());
  }

 private:
  const bool github_annotations_;
  const std::string report_dir_;
};

}  // namespace

std::unique_ptr<::testing::TestEventListener> MakeCiFindingsListener(
    bool github_annotations, std::string report_dir) {
  return std::make_unique<CiFindingsListener>(github_annotations,
                                              std::move(report_dir));
}

}  // namespace internal
}  // namespace taskleak
