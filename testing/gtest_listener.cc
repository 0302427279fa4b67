#include "taskleak/testing/gtest_listener.h"

#include <errno.h>
#include <string.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/thread_origin.h"
#include "taskleak/runtime/timeline.h"
#include "taskleak/testing/internal/ci_findings.h"
#include "taskleak/testing/internal/death_test_child.h"
#include "taskleak/testing/internal/report_files.h"
#include "taskleak/testing/internal/sanitizer_listener.h"
#include "taskleak/testing/internal/watchdog.h"
#include "taskleak/testing/this_test.h"

namespace taskleak {
namespace {

bool leaks_found = false;

std::string TestName(const ::testing::TestInfo& test) {
  return absl::StrCat(test.test_suite_name(), ".", test.name());
}

// The flag that would accept the leaked threads, at the frames that created
// them; "" if no creation was recorded. Quoted for the shell when needed.
std::string IgnoreHint(const LeakReport& report) {
  std::vector<std::string> flags;
  for (const ThreadDump& thread : report.threads) {
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

LeakCheckListener::LeakCheckListener(GoogleTestLeakOptions options)
    : options_(std::move(options)) {}

void LeakCheckListener::OnTestIterationStart(const ::testing::UnitTest&,
                                             int iteration) {
  iteration_ = iteration;
}

// Both callbacks run taskleak's bookkeeping, hidden from ThreadSanitizer
// (runtime/internal/hidden_from_tsan.h) so that it orders no user threads.
void LeakCheckListener::OnTestStart(const ::testing::TestInfo& test) {
  internal::HiddenFromTsan hidden;
  // Only with the timeline on: a clean test should not pay for its name.
  if (options_.timeline) BeginTimelineScope(TestName(test));
  internal::WatchdogTestStarted(test);
  ThisTest::Reset();
  snapshot_.reset();
  if (options_.mode == GoogleTestLeakOptions::Mode::kOff || disabled_) return;
  absl::StatusOr<LeakSnapshot> snapshot = LeakSnapshot::Take(options_.check);
  if (!snapshot.ok()) {
    fprintf(stderr, "taskleak: leak checks are off: %s\n",
            std::string(snapshot.status().message()).c_str());
    disabled_ = true;
    return;
  }
  snapshot_ = std::make_unique<LeakSnapshot>(*std::move(snapshot));
}

void LeakCheckListener::OnTestEnd(const ::testing::TestInfo& test) {
  internal::HiddenFromTsan hidden;
  // Before the grace period: it is not the test's time.
  if (options_.timeline) EndTimelineScope();
  internal::WatchdogLeakCheckStarted();
  CheckForLeaks(test);
  internal::WatchdogTestEnded(test);
}

void LeakCheckListener::CheckForLeaks(const ::testing::TestInfo& test) {
  if (snapshot_ == nullptr) return;
  LeakCheckOptions check = options_.check;
  check.on_wait = &internal::WatchdogLeakCheckWaiting;
  const bool run = ThisTest::Apply(&check);
  ThisTest::Reset();
  if (!run) return;
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
  if (!report->clean()) Report(test, *report);
}

void LeakCheckListener::Report(const ::testing::TestInfo& test,
                               const LeakReport& report) {
  leaks_found = true;
  std::string name = TestName(test);
  if (iteration_ > 0) absl::StrAppend(&name, ".", iteration_ + 1);
  leaks_.emplace_back(name, report.Summary());
  std::string message = report.Text();
  std::string report_file;
  if (!options_.report_dir.empty()) {
    absl::StatusOr<std::string> path =
        internal::WriteReportFiles(options_.report_dir, name, report);
    if (path.ok()) report_file = path->substr(path->rfind('/') + 1);
    absl::StrAppend(&message,
                    "report: ", path.ok() ? *path : path.status().ToString(),
                    "\n");
  }
  absl::StrAppend(&message, IgnoreHint(report));
  for (internal::Finding& f : internal::LeakFindings(report, report_file)) {
    internal::RecordFinding(std::move(f));
  }
  if (options_.mode == GoogleTestLeakOptions::Mode::kFail) {
    ADD_FAILURE_AT(test.file(), test.line()) << "taskleak: " << message;
  } else {
    fprintf(stderr, "taskleak: warning: %s", message.c_str());
  }
}

void LeakCheckListener::OnTestProgramEnd(const ::testing::UnitTest&) {
  if (options_.timeline) WriteTimeline();
  if (options_.mode == GoogleTestLeakOptions::Mode::kOff) return;
  // Leaks, races and heap leaks of every test, the most important first.
  fflush(stdout);
  const std::string error = internal::WriteCiFindings(
      internal::RecordedFindings(), options_.github_annotations,
      options_.report_dir);
  if (!error.empty()) fprintf(stderr, "taskleak: %s", error.c_str());
  if (options_.report_dir.empty()) return;
  absl::Status status =
      internal::WriteSummaryFiles(options_.report_dir, leaks_);
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

void InstallGoogleTestListener(int* argc, char** argv) {
  absl::StatusOr<GoogleTestLeakOptions> options =
      ParseTaskleakFlags(argc, argv);
  if (!options.ok()) {
    fprintf(stderr, "%s\n", std::string(options.status().message()).c_str());
    exit(2);
  }
  InstallGoogleTestListener(*options);
}

void InstallGoogleTestListener(const GoogleTestLeakOptions& options) {
  // A death-test child never reaches the end of its test, so no check of
  // ours could report there, and the parent's watchdog times the whole test:
  // the child starts nothing (no probe thread, unwinder, handlers or
  // listener) and costs what GoogleTest's own main costs.
  if (internal::InDeathTestChild()) return;
  // Probes the interposer now, outside the hidden scopes of the callbacks:
  // the probe starts a thread, whose creation TSan must see.
  ThreadOriginsRecorded();
  ::testing::TestEventListeners& listeners =
      ::testing::UnitTest::GetInstance()->listeners();
  // Before the thread check: its OnTestEnd runs after the thread check's.
  if (std::unique_ptr<::testing::TestEventListener> sanitizer =
          internal::MakeSanitizerListener(options)) {
    listeners.Append(sanitizer.release());
  }
  // Before any test: threads that end from now on are drawn.
  if (options.timeline) StartTimeline();
  listeners.Append(new LeakCheckListener(options));
  // Test timeouts and dumps on SIGTERM/SIGQUIT; it prints its own errors.
  internal::WatchdogOptions watchdog;
  watchdog.test_timeout = options.test_timeout;
  watchdog.dump_on_signal = options.dump_on_signal;
  watchdog.report_dir = options.report_dir;
  watchdog.github_annotations = options.github_annotations;
  watchdog.max_frames = options.check.dump.max_frames;
  internal::InstallWatchdog(watchdog).IgnoreError();  // Hidden inside.
}

bool LeaksFound() { return leaks_found; }

bool FailuresOutsideTests() {
  return internal::SanitizerFailuresOutsideTests();
}

}  // namespace taskleak
