#include "taskleak/testing/internal/watchdog.h"

#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "taskleak/runtime/dump.h"
#include "taskleak/runtime/flame_graph.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/internal/monotonic_clock.h"
#include "taskleak/runtime/internal/write_all.h"
#include "taskleak/runtime/pprof_profile.h"
#include "taskleak/runtime/signal_dump.h"
#include "taskleak/runtime/timeline.h"
#include "taskleak/testing/internal/ci_findings.h"
#include "taskleak/testing/internal/death_test_child.h"
#include "taskleak/testing/internal/junit_xml.h"
#include "taskleak/testing/internal/report_files.h"
#include "taskleak/testing/internal/test_name.h"

namespace taskleak {
namespace internal {
namespace {

// The running test. Written by the test thread; read by the forked child
// that writes reports, which sees a copy taken at the fork.
struct CurrentTest {
  const ::testing::TestInfo* test = nullptr;
  std::string name;
  int64_t start_ns = 0;
  // Zero: no limit.
  absl::Duration timeout;
  bool set_by_test = false;
  // The test body has ended and its leak check is waiting for this many
  // new threads and tasks to end.
  bool checking = false;
  int waiting_threads = 0;
  int waiting_tasks = 0;
};

struct Watchdog {
  WatchdogOptions options;
  bool prepared = false;
  // Why dumps cannot be made here, once that is known.
  std::string unavailable;
  bool said_unavailable = false;
  bool warned_outside_test = false;
  std::string xml_path;
  CurrentTest current;
  // Tests that ended in this iteration.
  absl::flat_hash_set<const ::testing::TestInfo*> finished;
};

Watchdog& W() {
  static auto* watchdog = new Watchdog;
  return *watchdog;
}

bool Limited(absl::Duration d) {
  return d > absl::ZeroDuration() && d != absl::InfiniteDuration();
}

std::string Format(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Milliseconds(1)));
}

// write(2), not stdio: in the forked child another thread's copy of a
// stdio lock may be held forever.
void WriteAll(int fd, const std::string& text) {
  internal::WriteAll(fd, text.data(), text.size());
}

// Writes `contents` to `path` (report_files.h), creating the directories
// above it. Returns "" or what went wrong.
std::string WriteReport(const std::string& path, const std::string& contents) {
  MakeParentDirectories(path);
  const absl::Status written = WriteFile(path, contents);
  return written.ok() ? "" : std::string(written.message());
}

std::string Count(int n, absl::string_view what) {
  return absl::StrCat(n, " ", what, n == 1 ? "" : "s");
}

// "SuiteName.Test was running (for 1.2s)", with what its leak check was
// waiting for once the body had ended.
std::string Running(const CurrentTest& c, absl::Duration elapsed) {
  std::string running =
      absl::StrCat(c.name, " was running (for ", Format(elapsed), ")");
  if (!c.checking) return running;
  std::string waiting = Count(c.waiting_threads, "thread");
  if (c.waiting_tasks > 0) {
    absl::StrAppend(&waiting, " and ", Count(c.waiting_tasks, "task"));
  }
  return absl::StrCat(running, ", in its leak check: waiting for ", waiting,
                      " to end");
}

std::string Describe(int signo) {
  const char* abbrev = sigabbrev_np(signo);
  return abbrev != nullptr ? absl::StrCat("SIG", abbrev)
                           : absl::StrCat("signal ", signo);
}

// One signal or timeout, as the report's steps below see it.
struct Incident {
  const EmergencyEvent& event;
  const ProcessDump& dump;
  bool timeout;  // the test's time limit, not a signal
  absl::Duration elapsed;
  std::string what;  // "Suite.Test timed out: ..." or "SIGTERM while ..."
  std::string text;  // what is printed: `what`, every thread and task
  std::string name;  // the running test, or "between-tests"
};

std::string WhatHappened(const EmergencyEvent& event, bool timeout,
                         absl::Duration elapsed) {
  const CurrentTest& c = W().current;
  const bool dying = timeout || event.signo == SIGTERM;
  std::string what;
  if (timeout) {
    what = absl::StrCat(c.name, " timed out: still running after ",
                        Format(elapsed), " (limit ", Format(c.timeout),
                        c.set_by_test ? ", set by ThisTest::SetTimeout"
                                      : ", from --taskleak_test_timeout",
                        ")");
  } else {
    what = absl::StrCat(Describe(event.signo), " while ",
                        c.test == nullptr ? std::string("no test was running")
                                          : Running(c, elapsed));
    if (event.signo == SIGTERM) {
      absl::StrAppend(&what,
                      "; if the test runner sent it, the test ran past its "
                      "time limit");
    } else if (!dying) {
      absl::StrAppend(&what, "; the tests go on");
    }
  }
  return what;
}

std::string DumpText(const Incident& in) {
  DumpOptions format;
  format.max_frames = W().options.max_frames;
  const ProcessDump& dump = in.dump;
  return absl::StrCat(
      "taskleak: ", in.what,
      ". Every thread, where it is and where it was created:\n\n",
      absl::StrFormat("taskleak dump of pid %d at %s: %d threads, %d live "
                      "tasks\n\n",
                      in.event.pid,
                      absl::FormatTime(absl::RFC3339_full, in.event.time,
                                       absl::UTCTimeZone()),
                      dump.threads.size(), dump.tasks.size()),
      FormatThreadsText(dump.threads, format, dump.taken_at),
      in.event.threads_left_out == 0
          ? std::string()
          : absl::StrCat("... and ", in.event.threads_left_out,
                         " more threads, not captured\n\n"),
      FormatTasksText(dump.tasks, format, dump.taken_at));
}

// "taskleak-hang-NAME" or "taskleak-sigterm-NAME".
std::string ReportBaseName(const Incident& in) {
  if (in.timeout || in.event.signo == SIGTERM) {
    return absl::StrCat("taskleak-", in.timeout ? "hang" : "sigterm", "-",
                        SafeFileName(in.name));
  }
  // The tests go on and may be signalled again: one set of files per dump,
  // named after the signal and the dump's monotonic millisecond.
  const std::string signal = absl::AsciiStrToLower(Describe(in.event.signo));
  return absl::StrCat("taskleak-", SafeFileName(signal), "-",
                      SafeFileName(in.name), "-",
                      in.event.monotonic_ns / 1000000);
}

// REPORT_DIR/BASE.txt and the pictures of the same threads (see
// report_files.h), written with write(2) like the text. Returns the
// trailer's line.
std::string WriteIncidentFiles(const Incident& in) {
  const std::string base =
      absl::StrCat(W().options.report_dir, "/", ReportBaseName(in));
  const std::string path = base + ".txt";
  std::string error = WriteReport(path, in.text);
  ThreadProfileOptions profile;
  profile.taken_at = in.dump.taken_at;
  if (error.empty()) {
    error = WriteReport(base + "-threads.pb.gz",
                        ThreadProfile(in.dump.threads, profile));
  }
  FlameGraphOptions graph;
  graph.title = absl::StrCat(in.dump.threads.size(), " threads when ", in.what);
  if (error.empty()) {
    error = WriteReport(base + "-threads.svg",
                        ThreadFlameGraph(in.dump.threads, graph));
  }
  return absl::StrCat(
      "taskleak: ", error.empty() ? absl::StrCat("report: ", path) : error,
      "\n");
}

// The program's end, which writes the timeline otherwise, never comes.
std::string WriteIncidentTimeline(const Incident& in) {
  const std::string timeline =
      absl::StrCat(W().options.report_dir, "/taskleak-timeline.json");
  const std::string failed = WriteReport(timeline, TimelineJsonAtDump(in.dump));
  return absl::StrCat(
      "taskleak: ",
      failed.empty() ? absl::StrCat("timeline: ", timeline) : failed, "\n");
}

// The process ends here: the program's end will not write the CI findings;
// this copy has them all, and adds the hang. Returns what went wrong, if
// anything.
std::string WriteIncidentFindings(const Incident& in) {
  const WatchdogOptions& options = W().options;
  Finding hang;
  hang.kind = Finding::Kind::kHang;
  hang.test = in.name;
  hang.message = in.what;
  if (!options.report_dir.empty()) {
    hang.report_file = ReportBaseName(in) + ".txt";
  }
  for (const ThreadDump& t : in.dump.threads) {
    if (t.info.id.tid == in.event.tid) LocateAtUserFrame(t.stack, &hang);
  }
  RecordFinding(std::move(hang));
  return WriteCiFindings(RecordedFindings(), options.github_annotations,
                         options.report_dir);
}

// The XML report GoogleTest was asked for, with the running test failed.
// Returns the trailer's line.
std::string WriteIncidentXml(const Incident& in) {
  const Watchdog& w = W();
  const CurrentTest& c = w.current;
  InterruptedTest interrupted;
  interrupted.test = c.test;
  interrupted.elapsed = in.elapsed;
  interrupted.message =
      in.timeout ? absl::StrCat("taskleak: ", in.what)
                 : absl::StrCat("taskleak: ended by ", Describe(in.event.signo),
                                " after ", Format(in.elapsed),
                                c.checking ? ", in its leak check" : "",
                                " (the test runner's time limit?)");
  interrupted.details = in.text;
  interrupted.not_run_note =
      absl::StrCat("not run: the process was ended ",
                   in.timeout ? absl::StrCat("when ", in.name, " timed out")
                              : absl::StrCat("by ", Describe(in.event.signo)));
  const int not_run =
      TestsNotRun(*::testing::UnitTest::GetInstance(), w.finished, c.test);
  const std::string error =
      WriteReport(w.xml_path, JunitXml(*::testing::UnitTest::GetInstance(),
                                       w.finished, interrupted, absl::Now()));
  return absl::StrCat(
      "taskleak: ",
      error.empty()
          ? absl::StrCat(
                "wrote the XML report ", w.xml_path,
                c.test == nullptr ? "" : absl::StrCat(": ", c.name, " failed"),
                ", ", not_run, " tests not run")
          : error,
      "\n");
}

// Runs in the forked copy of the process (see runtime/signal_dump.h).
void Report(const EmergencyEvent& event, const ProcessDump& dump) {
  const Watchdog& w = W();
  const CurrentTest& c = w.current;
  const bool timeout = event.signo == 0;
  const bool dying = timeout || event.signo == SIGTERM;
  // The parent ends without flushing stdout: its pending output (the
  // test's, GoogleTest's) goes out from this copy, exactly once.
  if (dying) fflush_unlocked(stdout);

  const absl::Duration elapsed =
      c.test == nullptr ? absl::ZeroDuration()
                        : absl::Nanoseconds(event.monotonic_ns - c.start_ns);
  Incident in{event,
              dump,
              timeout,
              elapsed,
              WhatHappened(event, timeout, elapsed),
              "",
              c.test == nullptr ? std::string("between-tests") : c.name};
  in.text = DumpText(in);
  WriteAll(STDERR_FILENO, in.text);
  if (!dying) {
    // SIGQUIT: the text and pictures too; no XML or findings, the tests go on.
    if (!w.options.report_dir.empty()) {
      WriteAll(STDERR_FILENO, WriteIncidentFiles(in));
    }
    return;
  }

  std::string trailer;
  if (!w.options.report_dir.empty()) {
    trailer += WriteIncidentFiles(in);
    if (TimelineStarted()) trailer += WriteIncidentTimeline(in);
  }
  trailer += WriteIncidentFindings(in);
  if (!w.xml_path.empty()) trailer += WriteIncidentXml(in);
  if (timeout) {
    absl::StrAppend(&trailer,
                    "taskleak: ending the process with exit status 1, "
                    "without static destructors (hung threads could block "
                    "them)\n");
  } else {
    absl::StrAppend(&trailer, "taskleak: dying by ", Describe(event.signo),
                    "\n");
  }
  WriteAll(STDERR_FILENO, trailer);
}

// `quiet`: say nothing if dumps are unavailable (nobody asked for a limit).
bool Prepare(bool quiet) {
  Watchdog& w = W();
  if (!w.prepared && w.unavailable.empty()) {
    EmergencyDumpOptions options;
    options.reporter = &Report;
    options.dump.max_frames = w.options.max_frames;
    options.timer_exit_code = 1;
    // Worth its start-up cost when time limits are asked for; signal dumps
    // alone load libdw only if a signal comes.
    options.preload_symbolizer = !quiet;
    const absl::Status status = PrepareEmergencyDump(options);
    if (status.ok()) {
      w.prepared = true;
    } else {
      w.unavailable = std::string(status.message());
    }
  }
  if (!w.prepared && !quiet && !w.said_unavailable) {
    fprintf(stderr, "taskleak: test timeouts and signal dumps are off: %s\n",
            w.unavailable.c_str());
    w.said_unavailable = true;
  }
  return w.prepared;
}

// What the handler writes itself if the report cannot be made.
void UpdateFallback() {
  const Watchdog& w = W();
  const CurrentTest& c = w.current;
  if (c.test == nullptr) {
    SetEmergencyFallback("", "", "");
    return;
  }
  SetEmergencyFallback(
      c.name, w.xml_path,
      w.xml_path.empty()
          ? ""
          : MinimalJunitXml(c.test->test_suite_name(), c.test->name(),
                            absl::StrCat("taskleak: ", c.name,
                                         " did not finish: it timed out or "
                                         "the process was ended by a "
                                         "signal; raw stacks in the log")));
}

void Arm() {
  const CurrentTest& c = W().current;
  const absl::Duration left =
      c.timeout - absl::Nanoseconds(MonotonicNanos() - c.start_ns);
  const absl::Status status =
      ArmEmergencyTimer(std::max(left, absl::Nanoseconds(1)));
  if (!status.ok()) {
    fprintf(stderr, "taskleak: cannot time %s: %s\n", c.name.c_str(),
            std::string(status.message()).c_str());
  }
}

class WatchdogListener : public ::testing::EmptyTestEventListener {
 public:
  void OnTestStart(const ::testing::TestInfo& test) override {
    WatchdogTestStarted(test);
  }
  void OnTestEnd(const ::testing::TestInfo& test) override {
    WatchdogTestEnded(test);
  }
};

}  // namespace

std::unique_ptr<::testing::TestEventListener> MakeWatchdogListener() {
  return std::make_unique<WatchdogListener>();
}

absl::Status InstallWatchdog(const WatchdogOptions& options) {
  internal::HiddenFromTsan hidden;
  Watchdog& w = W();
  w.options = options;
  w.xml_path = GoogleTestXmlPath();
  // Not under ThreadSanitizer (runtime/signal_dump.h): the README says so, and
  // nobody need be told at every start of every TSan test.
  const bool signal_dumps = options.dump_on_signal && SignalDumpsAvailable();
  if (!Limited(options.test_timeout) && !signal_dumps) {
    return absl::OkStatus();  // prepared on the first ThisTest::SetTimeout
  }
  if (!Prepare(/*quiet=*/!Limited(options.test_timeout))) {
    return absl::FailedPreconditionError(W().unavailable);
  }
  if (signal_dumps) {
    for (auto [signo, after] : {std::pair{SIGTERM, AfterDump::kReraise},
                                std::pair{SIGQUIT, AfterDump::kContinue}}) {
      // Ignored by whoever started us (nohup, a script's background job):
      // their choice, and nothing worth a line at every start.
      if (SignalIgnored(signo)) continue;
      const absl::Status status = DumpOnEmergencySignal(signo, after);
      if (!status.ok()) {
        fprintf(stderr, "taskleak: %s: no thread dump on %s\n",
                std::string(status.message()).c_str(), Describe(signo).c_str());
      }
    }
  }
  return absl::OkStatus();
}

void WatchdogTestStarted(const ::testing::TestInfo& test) {
  internal::HiddenFromTsan hidden;
  Watchdog& w = W();
  // Every test runs once per iteration: seeing one again starts the next.
  if (w.finished.contains(&test)) w.finished.clear();
  CurrentTest& c = w.current;
  c.test = &test;
  c.name = TestName(test);
  c.start_ns = MonotonicNanos();
  c.timeout = Limited(w.options.test_timeout) ? w.options.test_timeout
                                              : absl::ZeroDuration();
  c.set_by_test = false;
  c.checking = false;
  c.waiting_threads = c.waiting_tasks = 0;
  if (!w.prepared) return;
  UpdateFallback();
  if (Limited(c.timeout)) Arm();
}

void WatchdogLeakCheckStarted() {
  Watchdog& w = W();
  // The check's wait is bounded by its grace; the test's limit is over.
  if (w.prepared) DisarmEmergencyTimer();
  w.current.checking = true;
}

void WatchdogLeakCheckWaiting(int threads, int tasks) {
  CurrentTest& c = W().current;
  c.waiting_threads = threads;
  c.waiting_tasks = tasks;
}

void WatchdogTestEnded(const ::testing::TestInfo& test) {
  internal::HiddenFromTsan hidden;
  Watchdog& w = W();
  if (w.prepared) DisarmEmergencyTimer();
  w.current.test = nullptr;
  w.current.checking = false;
  w.finished.insert(&test);
  if (w.prepared) UpdateFallback();
}

void SetCurrentTestTimeout(absl::Duration timeout) {
  // Runs in a test, and may install signal handlers: TSan orders every
  // later handler run after a sigaction() it sees.
  internal::HiddenFromTsan hidden;
  Watchdog& w = W();
  CurrentTest& c = w.current;
  if (c.test == nullptr) {
    // A death-test child: the parent times the test.
    if (!w.warned_outside_test && !InDeathTestChild()) {
      fprintf(stderr,
              "taskleak: ThisTest::SetTimeout works only inside a test run "
              "with taskleak's listener (//testing:gtest_main or "
              "InstallGoogleTestListener); ignored\n");
      w.warned_outside_test = true;
    }
    return;
  }
  c.set_by_test = true;
  if (!Limited(timeout)) {
    c.timeout = absl::ZeroDuration();
    if (w.prepared) DisarmEmergencyTimer();
    return;
  }
  c.timeout = timeout;
  if (!Prepare(/*quiet=*/false)) return;
  UpdateFallback();
  Arm();
}

}  // namespace internal
}  // namespace taskleak
