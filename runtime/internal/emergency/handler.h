// The emergency dump's signal side: the handlers of the request signal
// (stack requests and the hang timer) and of dump signals (SIGTERM,
// SIGQUIT), which capture every thread, fork, and let the child report.
// Behind runtime/signal_dump.h, which describes the behaviour; the report
// itself is written at that level (Config::report).

#ifndef TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_HANDLER_H_
#define TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_HANDLER_H_

#include <sys/types.h>
#include <time.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "taskleak/runtime/internal/emergency/thread_capture.h"
#include "taskleak/runtime/internal/unwind/libunwind.h"

namespace taskleak {
namespace internal {
namespace emergency {

// What set a dump off (see taskleak::EmergencyEvent).
struct Trigger {
  int signo = 0;  // 0 for the timer
  pid_t pid = 0;
  pid_t tid = 0;
  int64_t monotonic_ns = 0;
  timespec realtime = {};
  int threads_left_out = 0;
};

// Writes the report from the captured threads; runs in the forked child,
// in ordinary code. `signal` is the request signal.
using Report = void (*)(const Trigger& trigger, const ThreadCapture& capture,
                        int signal);

struct Config {
  Report report = nullptr;
  const LibUnwind* lib = nullptr;
  int max_threads = 1;
  int max_frames = 1;
  // The request signal, or 0 to pick the highest free real-time one.
  int signal = 0;
  // The whole dump, and the capture's part of it.
  absl::Duration budget;
  absl::Duration capture_deadline;
  int timer_exit_code = 1;
};

// True once Prepare succeeded. Async-signal-safe.
bool Prepared();

// Reserves the memory and installs the request signal's handler; under
// ThreadSanitizer also starts the timer's thread ("taskleak-timer"). Call
// once, from ordinary code. Not thread-safe.
absl::Status Prepare(const Config& config);

// False under ThreadSanitizer, where DumpOnSignal refuses. Async-signal-safe.
bool SignalDumpsAvailable();

// The request signal, or 0. Async-signal-safe.
int RequestSignal();

// The hang timer for the calling thread: see taskleak::ArmEmergencyTimer.
// A timer signal to that thread, or under ThreadSanitizer a deadline for
// the timer's thread, which then dumps for it.
absl::Status ArmTimer(absl::Duration after);
void DisarmTimer();

// Dumps on `signo`, then re-raises it if `reraise`; see
// taskleak::DumpOnEmergencySignal.
absl::Status DumpOnSignal(int signo, bool reraise);

// See taskleak::SignalIgnored.
bool SignalIgnored(int signo);

// See taskleak::SetEmergencyFallback.
void SetFallback(absl::string_view label, absl::string_view file_path,
                 absl::string_view file_contents);

}  // namespace emergency
}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_HANDLER_H_
