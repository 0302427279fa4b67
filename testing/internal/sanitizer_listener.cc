#include "taskleak/testing/internal/sanitizer_listener.h"

#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/sanitizers/heap_leaks.h"
#include "taskleak/sanitizers/race_reports.h"
#include "taskleak/testing/internal/ci_findings.h"
#include "taskleak/testing/internal/test_name.h"
#include "taskleak/testing/internal/test_state.h"

namespace taskleak {
namespace internal {
namespace {

#ifdef ABSL_HAVE_THREAD_SANITIZER
constexpr bool kThreadSanitizer = true;
#else
constexpr bool kThreadSanitizer = false;
#endif

// Touched only by the thread that runs the tests (GoogleTest delivers the
// listener's events on it).
bool failures_outside_tests = false;

// Drops GoogleTest's own frames (the test runner below the test body):
// they are the same in every report.
void TrimRunner(std::vector<SymbolizedFrame>* stack) {
  for (size_t i = 1; i < stack->size(); ++i) {
    const std::string& f = (*stack)[i].function;
    if (absl::StrContains(f,
                          "testing::internal::HandleSehExceptionsInMethod") ||
        absl::StrContains(f, "testing::internal::HandleExceptionsInMethod") ||
        absl::StartsWith(f, "testing::Test::Run(") ||
        absl::StartsWith(f, "testing::TestInfo::Run(")) {
      stack->resize(i);
      return;
    }
  }
}

void TrimRunner(RaceReport* race) {
  for (RaceAccess& access : race->accesses) TrimRunner(&access.stack);
  for (RaceThread& thread : race->threads) TrimRunner(&thread.created_at);
  for (std::vector<SymbolizedFrame>& stack : race->stacks) TrimRunner(&stack);
  TrimRunner(&race->location_stack);
}

class SanitizerListener : public ::testing::EmptyTestEventListener {
 public:
  SanitizerListener(const SanitizerListenerOptions& options, bool races,
                    bool heap)
      : warn_(options.warn),
        max_frames_(options.max_frames),
        races_(races),
        heap_(heap) {}

  // Each callback hides itself from ThreadSanitizer
  // (runtime/internal/hidden_from_tsan.h): taking the reports that racing
  // threads left must not order those threads before this one.
  void OnTestProgramStart(const ::testing::UnitTest&) override {
    HiddenFromTsan hidden;
    Outside("before the first test", /*heap=*/true);
  }

  // So that the first suite's SetUpTestSuite is not charged for the global
  // environments' leaks.
  void OnEnvironmentsSetUpEnd(const ::testing::UnitTest&) override {
    HiddenFromTsan hidden;
    Outside("global test environment set-up", /*heap=*/true);
  }

  void OnTestStart(const ::testing::TestInfo& test) override {
    HiddenFromTsan hidden;
    if (heap_ && suite_setup_checked_ != test.test_suite_name()) {
      // The suite's first test: what leaked since the last check leaked in
      // SetUpTestSuite (the previous suite's teardown was checked at its
      // end). GoogleTest charges a failure to the suite only from
      // OnTestSuiteEnd, so it waits until then.
      suite_setup_checked_ = test.test_suite_name();
      CollectHeapLeaks(absl::StrCat(test.test_suite_name(), ".SetUpTestSuite"),
                       &suite_failures_);
    }
    // Only races: a heap check per test is enough, and a block leaked
    // between two tests is then charged to the next one.
    Outside(previous_.empty()
                ? absl::StrCat("before ", TestName(test))
                : absl::StrCat("between ", previous_, " and ", TestName(test)),
            /*heap=*/false);
  }

  void OnTestProgramEnd(const ::testing::UnitTest&) override {
    HiddenFromTsan hidden;
    Outside("after the last test", /*heap=*/true);
    if (outside_.empty()) return;
    fprintf(stderr, "taskleak: %s%zu problem(s) outside any test:\n",
            warn_ ? "warning: " : "", outside_.size());
    for (const std::string& problem : outside_) {
      fprintf(stderr, "taskleak: %s", problem.c_str());
    }
    fflush(stderr);
    if (!warn_) failures_outside_tests = true;
  }

  // The checks run in a frame below a scrubbed stack (ScrubStackBelowCaller).
  void OnTestEnd(const ::testing::TestInfo& test) override {
    HiddenFromTsan hidden;
    ScrubStackBelowCaller();
    CheckTest(test);
  }
  void OnTestSuiteEnd(const ::testing::TestSuite& suite) override {
    HiddenFromTsan hidden;
    ScrubStackBelowCaller();
    CheckSuite(suite);
  }

 private:
  __attribute__((noinline)) void CheckTest(const ::testing::TestInfo& test) {
    const std::string name = TestName(test);
    previous_ = name;
    std::vector<std::string> failures;
    CollectRaces(name, &failures);
    if (heap_ && !CurrentTestState().skip_heap_check) {
      CollectHeapLeaks(name, &failures);
    } else if (heap_) {
      absl::StatusOr<HeapLeakReport> report = FindNewHeapLeaks();
      if (report.ok() && !report->clean()) {
        fprintf(stderr,
                "taskleak: note: heap check skipped for %s, which leaked %s\n",
                name.c_str(), report->Summary().c_str());
      }
    }
    for (const std::string& failure : failures) {
      if (warn_) {
        fprintf(stderr, "taskleak: warning: %s", failure.c_str());
      } else {
        ADD_FAILURE_AT(test.file(), test.line()) << "taskleak: " << failure;
      }
    }
  }

  // Leaks of SetUpTestSuite and TearDownTestSuite fail the suite:
  // GoogleTest lists it as "Suite: SetUpTestSuite or TearDownTestSuite".
  __attribute__((noinline)) void CheckSuite(const ::testing::TestSuite& suite) {
    if (heap_) {
      CollectHeapLeaks(absl::StrCat(suite.name(), ".TearDownTestSuite"),
                       &suite_failures_);
    }
    std::vector<std::string> failures = std::move(suite_failures_);
    suite_failures_.clear();
    suite_setup_checked_.clear();
    for (const std::string& failure : failures) {
      if (warn_) {
        fprintf(stderr, "taskleak: warning: %s", failure.c_str());
      } else {
        ADD_FAILURE() << "taskleak: " << failure;
      }
    }
  }

  void CollectRaces(const std::string& when, std::vector<std::string>* out) {
    if (!races_) return;
    RaceReports taken = TakeRaceReports();
    for (RaceReport& race : taken.reports) {
      TrimRunner(&race);
      Finding finding = RaceFinding(race, when);
      finding.failed = !warn_;
      RecordFinding(std::move(finding));
      out->push_back(absl::StrCat(race.kind, " ", Preposition(when), when, ": ",
                                  race.Text(max_frames_)));
    }
    if (taken.dropped > 0) {
      out->push_back(
          absl::StrCat(taken.dropped, " more ThreadSanitizer report(s) ",
                       Preposition(when), when,
                       " were not kept (more than 16 between two checks); see "
                       "ThreadSanitizer's own output above\n"));
    }
  }

  void CollectHeapLeaks(const std::string& when,
                        std::vector<std::string>* out) {
    absl::StatusOr<HeapLeakReport> report = FindNewHeapLeaks();
    if (!report.ok()) {
      fprintf(stderr, "taskleak: cannot check for heap leaks %s%s: %s\n",
              Preposition(when), when.c_str(),
              std::string(report.status().message()).c_str());
      return;
    }
    if (report->clean()) return;
    for (HeapLeak& leak : report->leaks) TrimRunner(&leak.allocated_at);
    for (Finding& f : HeapLeakFindings(*report, when)) {
      f.failed = !warn_;
      RecordFinding(std::move(f));
    }
    out->push_back(absl::StrCat("heap leak ", Preposition(when), when, ": ",
                                report->Text(max_frames_)));
  }

  void Outside(const std::string& when, bool heap) {
    std::vector<std::string> found;
    CollectRaces(absl::StrCat("outside any test (", when, ")"), &found);
    if (heap && heap_) {
      CollectHeapLeaks(absl::StrCat("outside any test (", when, ")"), &found);
    }
    for (std::string& f : found) outside_.push_back(std::move(f));
  }

  // "during Foo.Bar" for a test's name, nothing before "outside ...".
  static const char* Preposition(const std::string& when) {
    return when.rfind("outside", 0) == 0 ? "" : "during ";
  }

  const bool warn_;
  const int max_frames_;
  const bool races_;
  const bool heap_;
  std::string previous_;
  std::vector<std::string> outside_;
  // The suite whose SetUpTestSuite was checked, and what it and
  // TearDownTestSuite leaked.
  std::string suite_setup_checked_;
  std::vector<std::string> suite_failures_;
};

}  // namespace

std::unique_ptr<::testing::TestEventListener> MakeSanitizerListener(
    const SanitizerListenerOptions& options) {
  if (options.off) return nullptr;
  if (kThreadSanitizer) {
    // TSan starts its background thread along with the program's first
    // thread. Start that now, so that it is not new to the first test that
    // starts a thread (it would be ignored, but only after the grace).
    std::thread([] {}).join();
  }
  bool races = options.check_races;
  bool heap = options.check_heap;
  if (races && !RaceDetectionAvailable()) {
    fprintf(stderr,
            "taskleak: --taskleak_check=races is unavailable, races are not "
            "checked: %s\n",
            std::string(RaceDetectionStatus().message()).c_str());
    races = false;
  }
  if (heap && !HeapLeakCheckAvailable()) {
    fprintf(stderr,
            "taskleak: --taskleak_check=heap is unavailable, heap leaks are "
            "not checked: %s\n",
            std::string(HeapLeakCheckStatus().message()).c_str());
    heap = false;
  }
  if (!races && !heap) return nullptr;
  return std::make_unique<SanitizerListener>(options, races, heap);
}

bool SanitizerFailuresOutsideTests() { return failures_outside_tests; }

}  // namespace internal
}  // namespace taskleak
