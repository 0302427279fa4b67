// Dumps of every thread set off by a signal or a timer, for processes that
// must say where they are stuck:
//
//   // A long-running program: kill -QUIT <pid> prints a dump, and it runs on.
//   taskleak::InstallDumpOnSignal(SIGQUIT);
//
//   // A test process: a hung test dumps and ends, with no helper thread.
//   taskleak::EmergencyDumpOptions options;
//   options.reporter = WriteReport;  // runs in a forked copy of the process
//   taskleak::PrepareEmergencyDump(options);
//   taskleak::ArmEmergencyTimer(absl::Minutes(5));
//
// Two mechanisms, one capture (runtime/stack_capture.h's slot protocol).
//
// InstallDumpOnSignal: the handler only wakes a helper thread, which makes
// the dump in ordinary code.
//
// The emergency dump has no helper thread (but under ThreadSanitizer, see
// PrepareEmergencyDump): for a hung test (a timer), SIGTERM
// and SIGQUIT in test processes, where a thread kept alive for dumping would
// make GoogleTest warn in every death test ("Death tests use fork(), which is
// unsafe particularly in a threaded context"). The handler does only
// async-signal-safe work. It lists the threads (getdents64 on
// /proc/self/task), asks each for its stack with a real-time signal (each
// unwinds itself into preallocated memory), unwinds its own interrupted
// context, and then forks (_Fork). The child, a single-threaded copy of the
// process holding the raw stacks, symbolizes them, adds the "created by"
// chains and live tasks from its copy of the registries, and calls the
// reporter in ordinary code. The handler waits for the child on a pipe until
// a deadline; if the child fails (it can deadlock on a lock a vanished
// thread held at the fork, e.g. in malloc), the handler kills it and writes
// the raw addresses and the fallback text itself.

#ifndef TASKLEAK_RUNTIME_SIGNAL_DUMP_H_
#define TASKLEAK_RUNTIME_SIGNAL_DUMP_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "taskleak/runtime/dump.h"

namespace taskleak {

struct DumpOnSignalOptions {
  // What each dump contains and how stacks are captured.
  DumpOptions dump;
  // Also append each dump to this file when not empty. A file that cannot
  // be opened is reported on stderr, after the dump.
  std::string file;
  // A line printed before the dump, e.g. the name of the running test.
  // Called on the dumping thread, never in the signal handler.
  std::string (*header)() = nullptr;
};

// Opt-in: on `signo` (typically SIGQUIT), writes a dump to stderr (and the
// file) and keeps running. The handler only wakes a helper thread, named
// "taskleak-dump" and started here, which makes the dump; signals that
// arrive while a dump is being written cause one more dump, not one each.
// Fails, leaving the signal as it was and starting no thread, with
//   InvalidArgument     `signo` is no signal, or cannot be caught (SIGKILL,
//                       SIGSTOP, the real-time signals glibc keeps),
//   FailedPrecondition  the program installed a handler for `signo` (an
//                       ignored signal, SIG_IGN, is taken over),
//   AlreadyExists       `signo` already dumps.
// Do not pick the signal stack capture uses (StackCaptureOptions::signal).
// A forked child inherits the handler but not the helper thread: there the
// signal does nothing. Thread-safe; not async-signal-safe.
absl::Status InstallDumpOnSignal(int signo,
                                 const DumpOnSignalOptions& options = {});

// What set a dump off.
struct EmergencyEvent {
  // The signal (SIGTERM, SIGQUIT, ...), or 0 for the timer.
  int signo = 0;
  // The process dumped: the parent of the process the reporter runs in.
  pid_t pid = 0;
  // The thread that ran the handler (for the timer: the thread that armed
  // it).
  pid_t tid = 0;
  // CLOCK_MONOTONIC when the handler started, in nanoseconds.
  int64_t monotonic_ns = 0;
  // Real time at the same moment.
  absl::Time time;
  // Threads beyond kMaxEmergencyThreads, not in the dump.
  int threads_left_out = 0;
};

// Runs in the forked child, in ordinary code: it may allocate, lock and
// write files. The child is single-threaded and its memory is a copy of the
// parent's at the fork, so globals describe the parent. Output written to
// inherited descriptors (stderr, the parent's stdout buffer once flushed)
// reaches the parent's destinations.
using EmergencyReporter = void (*)(const EmergencyEvent& event,
                                   const ProcessDump& dump);

struct EmergencyDumpOptions {
  // Required: writes the report.
  EmergencyReporter reporter = nullptr;
  // Frames per stack (capture.max_frames, at most 256) and how long threads
  // get to answer (capture.deadline). capture.signal: the real-time signal
  // that carries requests and the timer; 0 picks the highest free one.
  DumpOptions dump;
  // The whole dump, capture included, after which the handler gives up on
  // the child and writes the raw stacks itself.
  absl::Duration budget = absl::Seconds(5);
  // The exit status after a timer dump.
  int timer_exit_code = 1;
  // Load libdw now (a few milliseconds) rather than in the forked child,
  // where dlopen could wait forever on the loader's lock if another thread
  // held it at the fork (the child then falls back to raw stacks).
  bool preload_symbolizer = true;
};

// Loads libunwind and libdw, reserves memory for kMaxEmergencyThreads
// stacks, and installs the handler on the request signal. Call once, from
// ordinary code, before any other function here; later calls fail. Not
// thread-safe.
//
// Under ThreadSanitizer, which runs a handler at once only on a thread
// inside one of its blocking interceptors, the timer is a thread of its own
// ("taskleak-timer", started here, every signal blocked) that dumps from
// ordinary code; threads TSan does not let the request reach (in read(),
// pthread_mutex_lock, uninstrumented code) are listed without a stack, and
// signal dumps are unavailable (SignalDumpsAvailable).
absl::Status PrepareEmergencyDump(const EmergencyDumpOptions& options);

// Whether DumpOnEmergencySignal can work in this process: not under
// ThreadSanitizer. Thread-safe.
bool SignalDumpsAvailable();

// The most threads one dump captures; the rest are listed without a stack.
inline constexpr int kMaxEmergencyThreads = 4096;

// The request signal, or 0 before PrepareEmergencyDump succeeded.
// Thread-safe and async-signal-safe.
int EmergencySignal();

// Arms a one-shot CLOCK_MONOTONIC timer that fires `after` from now on the
// calling thread; when it fires, the thread dumps and the process ends with
// `timer_exit_code` (_exit: no static destructors, no atexit handlers).
// Re-arming replaces the previous deadline. A timer fires only on the
// thread that armed it and only while that thread does not block the
// request signal. Timers are not inherited by fork children.
// Not async-signal-safe; call from the thread to watch.
absl::Status ArmEmergencyTimer(absl::Duration after);

// Cancels the timer. A timer signal already on its way is ignored once this
// has returned. Not async-signal-safe; call from the thread that armed it.
void DisarmEmergencyTimer();

// What the handler of a dump signal does once the dump is written.
enum class AfterDump {
  kContinue,  // returns: the program goes on (SIGQUIT)
  kReraise,   // restores the default action and re-raises: the process
              // dies by the signal (SIGTERM)
};

// Installs a handler on `signo` that dumps. Fails with FailedPrecondition,
// leaving everything as it was, if the program has installed a handler on
// `signo` or ignores it, or if !SignalDumpsAvailable(). Not thread-safe.
absl::Status DumpOnEmergencySignal(int signo, AfterDump after);

// Whether `signo` is ignored (SIG_IGN), as whoever started the process may
// leave it: nohup leaves SIGHUP so, and a non-interactive shell SIGINT and
// SIGQUIT for its background jobs. Async-signal-safe.
bool SignalIgnored(int signo);

// Text the handler writes itself when the child does not finish: `label`
// (e.g. the running test's name) in its lines, and `file_contents` to
// `file_path` (e.g. a minimal JUnit XML) unless the path is empty or the
// dump is for a signal that continues. Each is cut to a few KiB. Thread-safe
// with respect to dumps; call from ordinary code (not async-signal-safe).
void SetEmergencyFallback(absl::string_view label, absl::string_view file_path,
                          absl::string_view file_contents);

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_SIGNAL_DUMP_H_
