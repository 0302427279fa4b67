#include "taskleak/testing/internal/leak_listener.h"

#include <errno.h>
#include <string.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "taskleak/leakcheck/ignore_rules.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/timeline.h"
#include "taskleak/testing/internal/ci_findings.h"
#include "taskleak/testing/internal/report_files.h"
#include "taskleak/testing/internal/test_name.h"
#include "taskleak/testing/internal/test_state.h"

namespace taskleak {
namespace internal {
namespace {

bool leaks_found = false;

// The flag that would accept the leaked threads, at the frames that created
// them; "" if no creation was recorded. Quoted for the shell when needed.
std::string IgnoreHint(const LeakReport& report) {
  std::vector<std::string> flags;
  // The function depends only on the creation stack, which threads that
  // share one share.
  absl::flat_hash_set<const SymbolizedFrame*> seen;
  for (const ThreadDump& thread : report.threads) {
    if (!thread.created_by.empty() &&
        !seen.insert(thread.created_by[0].stack.data()).second) {
      continue;
    }
    const std::string function = CreatingFunction(thread);
    // A thread the test body started itself is the test's to end.
    if (function.empty() || absl::EndsWith(function, "::TestBody")) continue;
    const bool plain =
        std::all_of(function.begin(), function.end(), [](char c) {
          return absl::ascii_isalnum(c) || c == '_' || c == ':' || c == '~';
        });
    std::string flag =
        absl::StrCat("--taskleak_ignore_created_by=",
                     plain ? function : absl::StrCat("'", function, "'"));
    if (std::find(flags.begin(), flags.end(), flag) == flags.end()) {
      flags.push_back(std::move(flag));
    }
  }
  if (flags.empty()) return "";
  return absl::StrCat(
      "if ",
      report.threads.size() == 1 ? "this thread is" : "these threads are",
      " meant to outlive the test (a process-wide pool started lazily): ",
      absl::StrJoin(flags, " "),
      " (or TASKLEAK_IGNORE_CREATED_BY), or ThisTest::Ignore in the test\n");
}

}  // namespace

LeakCheckListener::LeakCheckListener(LeakListenerOptions options)
    : options_(std::move(options)) {}

void LeakCheckListener::OnTestIterationStart(const ::testing::UnitTest&,
                                             int iteration) {
  iteration_ = iteration;
}

// The callbacks run taskleak's bookkeeping, hidden from ThreadSanitizer
// (runtime/internal/hidden_from_tsan.h) so that it orders no user threads.
//
// A suite's own threads: those alive at its first test's start that were
// not at the suite's start were started by SetUpTestSuite; those alive at
// its end that were not at its last test's end, by TearDownTestSuite. Both
// are checked once, at the suite's end, so that TearDownTestSuite may stop
// what SetUpTestSuite started. Threads only: tasks and descriptors are
// checked per test.
void LeakCheckListener::OnTestSuiteStart(const ::testing::TestSuite&) {
  HiddenFromTsan hidden;
  suite_start_.reset();
  last_test_end_.reset();
  suite_setup_threads_.clear();
  suite_first_test_ = true;
  if (!SuiteChecked()) return;
  absl::StatusOr<LeakSnapshot> snapshot = LeakSnapshot::Take(SuiteCheck());
  if (snapshot.ok()) {
    suite_start_ = std::make_unique<LeakSnapshot>(*std::move(snapshot));
  }
}

void LeakCheckListener::OnTestStart(const ::testing::TestInfo& test) {
  HiddenFromTsan hidden;
  LookAtDeferredChecks();
  // Only with the timeline on: a clean test should not pay for its name.
  if (options_.timeline) BeginTimelineScope(TestName(test));
  snapshot_.reset();
  if (options_.off || disabled_) return;
  absl::StatusOr<LeakSnapshot> snapshot = LeakSnapshot::Take(options_.check);
  if (!snapshot.ok()) {
    fprintf(stderr, "taskleak: leak checks are off: %s\n",
            std::string(snapshot.status().message()).c_str());
    disabled_ = true;
    return;
  }
  snapshot_ = std::make_unique<LeakSnapshot>(*std::move(snapshot));
  if (std::exchange(suite_first_test_, false) && suite_start_ != nullptr) {
    suite_setup_threads_ = snapshot_->ThreadsStartedSince(*suite_start_);
  }
}

void LeakCheckListener::OnTestEnd(const ::testing::TestInfo& test) {
  HiddenFromTsan hidden;
  // Before the grace period: it is not the test's time.
  if (options_.timeline) EndTimelineScope();
  if (options_.on_check_start != nullptr) options_.on_check_start();
  CheckForLeaks(test);
  LookAtDeferredChecks();
  if (suite_start_ == nullptr) return;
  // Cheap while no thread came or went: it reuses the last listing.
  absl::StatusOr<LeakSnapshot> snapshot = LeakSnapshot::Take(SuiteCheck());
  if (snapshot.ok()) {
    last_test_end_ = std::make_unique<LeakSnapshot>(*std::move(snapshot));
  }
}

void LeakCheckListener::OnTestSuiteEnd(const ::testing::TestSuite& suite) {
  HiddenFromTsan hidden;
  CheckSuiteForLeaks(suite);
  suite_start_.reset();
  last_test_end_.reset();
  suite_setup_threads_.clear();
}

bool LeakCheckListener::SuiteChecked() const {
  return !options_.off && !disabled_ && options_.check.check_threads;
}

LeakCheckOptions LeakCheckListener::SuiteCheck() const {
  LeakCheckOptions check = options_.check;
  check.check_tasks = false;
  check.check_fds = false;
  return check;
}

void LeakCheckListener::CheckSuiteForLeaks(const ::testing::TestSuite& suite) {
  if (suite_start_ == nullptr || !SuiteChecked()) return;
  // No test ran: everything new since the suite's start is the suite's.
  const LeakSnapshot before =
      last_test_end_ == nullptr ? *suite_start_
                                : last_test_end_->Without(suite_setup_threads_);
  absl::StatusOr<LeakReport> report =
      FindLeaks(before, SuiteCheck(), suite.name());
  if (!report.ok()) {
    fprintf(stderr, "taskleak: cannot check %s for leaks: %s\n", suite.name(),
            std::string(report.status().message()).c_str());
    return;
  }
  for (const std::string& note : report->notes) {
    fprintf(stderr, "taskleak: note: %s\n", note.c_str());
  }
  if (report->clean()) return;
  // One report each for SetUpTestSuite's threads and TearDownTestSuite's.
  std::vector<ThreadDump> threads = std::move(report->threads);
  report->threads.clear();
  report->notes.clear();
  LeakReport setup = *report;
  LeakReport teardown = *std::move(report);
  setup.scope = absl::StrCat(suite.name(), ".SetUpTestSuite");
  teardown.scope = absl::StrCat(suite.name(), ".TearDownTestSuite");
  for (ThreadDump& thread : threads) {
    const bool by_setup =
        last_test_end_ != nullptr &&
        std::binary_search(suite_setup_threads_.begin(),
                           suite_setup_threads_.end(), thread.info.id.tid);
    (by_setup ? setup : teardown).threads.push_back(std::move(thread));
  }
  // Outside a test GoogleTest charges a failure to the suite ("Suite:
  // SetUpTestSuite or TearDownTestSuite"); shown at the suite's first test.
  const ::testing::TestInfo* first = suite.GetTestInfo(0);
  const char* file = first != nullptr ? first->file() : nullptr;
  const int line = first != nullptr ? first->line() : -1;
  if (!setup.clean()) Report(file, line, setup);
  if (!teardown.clean()) Report(file, line, teardown);
}

void LeakCheckListener::CheckForLeaks(const ::testing::TestInfo& test) {
  if (snapshot_ == nullptr) return;
  LeakCheckOptions check = options_.check;
  if (!ApplyTestState(&check)) return;
  if (options_.grace_overlap && check.check_threads) {
    LeakCheckOptions threads = check;
    threads.on_wait = nullptr;  // Its wait comes after every test.
    absl::StatusOr<std::optional<DeferredCheck>> pending =
        DeferredCheck::Start(*snapshot_, threads, TestName(test));
    if (pending.ok()) {
      if (pending->has_value()) {
        deferred_.push_back(Deferred{**std::move(pending),
                                     test.file() != nullptr ? test.file() : "",
                                     test.line()});
      }
      check.check_threads = false;
    } else {
      fprintf(stderr, "taskleak: cannot defer the thread check of %s: %s\n",
              TestName(test).c_str(),
              std::string(pending.status().message()).c_str());
    }
    if (!check.check_threads && !check.check_tasks && !check.check_fds) {
      snapshot_.reset();
      return;
    }
  }
  absl::StatusOr<LeakReport> report =
      FindLeaks(*snapshot_, check, TestName(test));
  snapshot_.reset();
  if (!report.ok()) {
    fprintf(stderr, "taskleak: cannot check %s for leaks: %s\n",
            TestName(test).c_str(),
            std::string(report.status().message()).c_str());
    return;
  }
  for (const std::string& note : report->notes) {
    fprintf(stderr, "taskleak: note: %s\n", note.c_str());
  }
  if (!report->clean()) Report(test.file(), test.line(), *report);
}

void LeakCheckListener::LookAtDeferredChecks() {
  if (deferred_.empty()) return;
  const absl::Time now = absl::Now();
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    if (now >= it->check.deadline()) {
      Finish(*it);
    } else if (!it->check.AllEnded()) {
      ++it;
      continue;
    }
    it = deferred_.erase(it);
  }
}

void LeakCheckListener::Finish(Deferred& deferred) {
  absl::StatusOr<LeakReport> report = deferred.check.Finish();
  if (!report.ok()) {
    fprintf(stderr, "taskleak: cannot finish the thread check of %s: %s\n",
            deferred.check.scope().c_str(),
            std::string(report.status().message()).c_str());
    return;
  }
  for (const std::string& note : report->notes) {
    fprintf(stderr, "taskleak: note: %s\n", note.c_str());
  }
  if (!report->clean()) {
    late_found_.push_back(
        LateLeak{deferred.file, deferred.line, *std::move(report)});
  }
}

// Runs before GoogleTest's printer and XML writer end the iteration
// (listeners end in reverse order, and GoogleTest's are added before the
// listener is installed), so that their summaries count a leak found here.
void LeakCheckListener::OnTestIterationEnd(const ::testing::UnitTest&, int) {
  HiddenFromTsan hidden;
  FinishDeferredChecks();
}

void LeakCheckListener::FinishDeferredChecks() {
  // Soonest deadline first: no window waits for a later one.
  std::stable_sort(deferred_.begin(), deferred_.end(),
                   [](const Deferred& a, const Deferred& b) {
                     return a.check.deadline() < b.check.deadline();
                   });
  for (Deferred& d : deferred_) Finish(d);
  deferred_.clear();
  for (const LateLeak& late : late_found_) {
    if (!options_.warn) late_leaks_.push_back(late.report.Summary());
    // Outside any test GoogleTest charges the failure to the run: the test
    // itself has passed by now, so the message says which one leaked.
    Report(late.file.c_str(), late.line, late.report,
           absl::StrCat("found after ", late.report.scope,
                        " ended (--taskleak_grace_overlap): GoogleTest "
                        "counts it against the run, not the test\n"));
  }
  late_found_.clear();
}

void LeakCheckListener::Report(const char* file, int line,
                               const LeakReport& report,
                               absl::string_view preface) {
  leaks_found = true;
  std::string name = report.scope;
  if (iteration_ > 0) absl::StrAppend(&name, ".", iteration_ + 1);
  // A test's threads found late, after its tasks at its end: both keep
  // their files.
  if (std::any_of(leaks_.begin(), leaks_.end(),
                  [&name](const auto& leak) { return leak.first == name; })) {
    absl::StrAppend(&name, "-late");
  }
  leaks_.emplace_back(name, report.Summary());
  std::string message = absl::StrCat(preface, report.Text());
  std::string report_file;
  if (!options_.report_dir.empty()) {
    absl::StatusOr<std::string> path =
        WriteReportFiles(options_.report_dir, name, report, message);
    if (path.ok()) report_file = path->substr(path->rfind('/') + 1);
    absl::StrAppend(&message,
                    "report: ", path.ok() ? *path : path.status().ToString(),
                    "\n");
  }
  absl::StrAppend(&message, IgnoreHint(report));
  for (Finding& f : LeakFindings(report, report_file)) {
    f.failed = !options_.warn;
    RecordFinding(std::move(f));
  }
  if (!options_.warn) {
    ADD_FAILURE_AT(file, line) << "taskleak: " << message;
  } else {
    fprintf(stderr, "taskleak: warning: %s", message.c_str());
  }
}

void LeakCheckListener::OnTestProgramEnd(const ::testing::UnitTest&) {
  if (!late_leaks_.empty()) {
    fprintf(stderr,
            "taskleak: the run fails: %zu leak%s found after the tests "
            "ended (--taskleak_grace_overlap):\n",
            late_leaks_.size(), late_leaks_.size() == 1 ? "" : "s");
    for (const std::string& summary : late_leaks_) {
      fprintf(stderr, "  %s\n", summary.c_str());
    }
  }
  if (options_.timeline) WriteTimeline();
  // The CI findings are written after every listener's end: see
  // ci_findings_listener.h.
  if (options_.off || options_.report_dir.empty()) return;
  absl::Status status = WriteSummaryFiles(options_.report_dir, leaks_);
  if (!status.ok()) {
    fprintf(stderr, "taskleak: %s\n", std::string(status.message()).c_str());
  }
}

void LeakCheckListener::WriteTimeline() const {
  const std::string path =
      absl::StrCat(options_.report_dir.empty() ? "." : options_.report_dir,
                   "/taskleak-timeline.json");
  const std::string json = TimelineJson();
  FILE* f = fopen(path.c_str(), "w");
  bool written =
      f != nullptr && fwrite(json.data(), 1, json.size(), f) == json.size();
  if (f != nullptr) written = fclose(f) == 0 && written;
  if (written) {
    fprintf(stderr, "taskleak: timeline: %s (open in ui.perfetto.dev)\n",
            path.c_str());
  } else {
    fprintf(stderr, "taskleak: cannot write the timeline %s: %s\n",
            path.c_str(), strerror(errno));
  }
}

bool LeakListenerFoundLeaks() { return leaks_found; }

}  // namespace internal
}  // namespace taskleak
