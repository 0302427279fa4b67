// The emergency dump's report side: its options, and the forked child's
// work, which describes the captured threads exactly as every other dump
// does (DescribeThreads, capture_reasons.h). The signal handlers, the
// capture into reserved memory and the fork live in
// runtime/internal/emergency/.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "taskleak/runtime/capture_reasons.h"
#include "taskleak/runtime/internal/emergency/handler.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/internal/unwind/libunwind.h"
#include "taskleak/runtime/signal_dump.h"
#include "taskleak/runtime/symbolizer.h"
#include "taskleak/runtime/task_registry.h"
#include "taskleak/runtime/thread_list.h"

namespace taskleak {
namespace {

namespace emergency = internal::emergency;

constexpr int kMaxFrames = 256;

// Set once by PrepareEmergencyDump, never freed; the child reads its copy.
const EmergencyDumpOptions* prepared_options = nullptr;

// The stack of thread `i`, or why there is none, in the words of ordinary
// captures. `task_dir_fd` is the parent's open `task_dir`.
ThreadStack StackOf(const emergency::ThreadCapture& capture, int i, int signal,
                    int task_dir_fd, const std::string& task_dir,
                    absl::Duration deadline) {
  const emergency::CapturedThread& thread = capture.thread(i);
  ThreadStack stack;
  stack.tid = thread.tid;
  switch (thread.outcome) {
    case emergency::Outcome::kAnswered: {
      const absl::Span<const uintptr_t> frames = capture.Frames(i);
      stack.pcs.assign(frames.begin(), frames.end());
      stack.available = !stack.pcs.empty();
      if (!stack.available) stack.unavailable_reason = kNoFrame;
      break;
    }
    case emergency::Outcome::kBlocked:
      stack.unavailable_reason = BlockedReason(task_dir, thread.tid, signal);
      break;
    case emergency::Outcome::kExited:
      stack.unavailable_reason = kThreadExited;
      break;
    case emergency::Outcome::kSendFailed:
      stack.unavailable_reason = SendFailureReason(thread.error);
      break;
    case emergency::Outcome::kNoAnswer:
      stack.unavailable_reason = NoAnswerReason(
          task_dir_fd, task_dir, thread.tid, signal, deadline, "");
      break;
    case emergency::Outcome::kStillWriting:
      stack.unavailable_reason = NoAnswerReason(
          task_dir_fd, task_dir, thread.tid, signal, deadline, kStillUnwinding);
      break;
  }
  return stack;
}

// In the forked child, in ordinary code.
void ReportInChild(const emergency::Trigger& trigger,
                   const emergency::ThreadCapture& capture, int signal) {
  const EmergencyDumpOptions& options = *prepared_options;
  EmergencyEvent event;
  event.signo = trigger.signo;
  event.pid = trigger.pid;
  event.tid = trigger.tid;
  event.monotonic_ns = trigger.monotonic_ns;
  event.time = absl::TimeFromTimespec(trigger.realtime);
  event.threads_left_out = trigger.threads_left_out;

  // The child's /proc/self is itself: look at the parent's threads.
  ThreadListOptions list;
  list.task_dir = absl::StrCat("/proc/", event.pid, "/task");
  const int task_dir_fd =
      open(list.task_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const absl::Duration deadline =
      std::min(options.budget, options.dump.capture.deadline);
  std::vector<ThreadInfo> threads;
  std::vector<ThreadStack> stacks;
  threads.reserve(capture.size());
  stacks.reserve(capture.size());
  std::vector<pid_t> tids;
  tids.reserve(capture.size());
  for (int i = 0; i < capture.size(); ++i) {
    tids.push_back(capture.thread(i).tid);
  }
  std::vector<absl::StatusOr<ThreadInfo>> infos =
      ReadEachThreadInfo(tids, list);
  for (int i = 0; i < capture.size(); ++i) {
    const pid_t tid = tids[i];
    absl::StatusOr<ThreadInfo>& info = infos[i];
    if (info.ok()) {
      if (capture.thread(i).state != '?') info->state = capture.thread(i).state;
      threads.push_back(*std::move(info));
    } else {
      ThreadInfo& unknown = threads.emplace_back();
      unknown.id.tid = tid;
      unknown.name = "?";
      unknown.start_time = event.time;
    }
    stacks.push_back(
        StackOf(capture, i, signal, task_dir_fd, list.task_dir, deadline));
  }
  if (task_dir_fd >= 0) close(task_dir_fd);

  ProcessDump dump;
  dump.taken_at = event.time;
  dump.threads = DescribeThreads(threads, stacks);
  if (options.dump.include_tasks) dump.tasks = DumpTasks(ListTasks());
  options.reporter(event, dump);
}

}  // namespace

absl::Status PrepareEmergencyDump(const EmergencyDumpOptions& options) {
  internal::HiddenFromTsan hidden;
  if (emergency::Prepared()) {
    return absl::AlreadyExistsError("emergency dumps are already prepared");
  }
  if (options.reporter == nullptr) {
    return absl::InvalidArgumentError("EmergencyDumpOptions::reporter is null");
  }
  if (options.budget <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "EmergencyDumpOptions::budget must be positive");
  }
  const internal::LibUnwind* lib = internal::LoadLibUnwind();
  if (lib == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot capture stacks: ", internal::LibUnwindError()));
  }
  if (options.preload_symbolizer) SymbolizerLimitations();

  emergency::Config config;
  config.report = ReportInChild;
  config.lib = lib;
  config.max_threads = kMaxEmergencyThreads;
  config.max_frames =
      std::clamp(options.dump.capture.max_frames, 1, kMaxFrames);
  config.signal = options.dump.capture.signal;
  config.budget = options.budget;
  config.capture_deadline = options.dump.capture.deadline;
  config.timer_exit_code = options.timer_exit_code;
  const EmergencyDumpOptions* previous = prepared_options;
  prepared_options = new EmergencyDumpOptions(options);
  absl::Status prepared = emergency::Prepare(config);
  if (!prepared.ok()) {
    delete prepared_options;
    prepared_options = previous;
  }
  return prepared;
}

bool SignalDumpsAvailable() { return emergency::SignalDumpsAvailable(); }

int EmergencySignal() { return emergency::RequestSignal(); }

absl::Status ArmEmergencyTimer(absl::Duration after) {
  return emergency::ArmTimer(after);
}

void DisarmEmergencyTimer() { emergency::DisarmTimer(); }

absl::Status DumpOnEmergencySignal(int signo, AfterDump after) {
  return emergency::DumpOnSignal(signo, after == AfterDump::kReraise);
}

bool SignalIgnored(int signo) { return emergency::SignalIgnored(signo); }

void SetEmergencyFallback(absl::string_view label, absl::string_view file_path,
                          absl::string_view file_contents) {
  emergency::SetFallback(label, file_path, file_contents);
}

}  // namespace taskleak
