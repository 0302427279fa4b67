#include "taskleak/leakcheck/deferred_check.h"

#include <sys/types.h>

#include <algorithm>
#include <utility>

#include "taskleak/runtime/internal/hidden_from_tsan.h"

namespace taskleak {
namespace {

LeakCheckOptions ThreadsOnly(LeakCheckOptions options) {
  options.check_threads = true;
  options.check_tasks = false;
  options.check_fds = false;
  return options;
}

std::vector<pid_t> Tids(const std::vector<ThreadId>& threads) {
  std::vector<pid_t> tids;
  tids.reserve(threads.size());
  for (const ThreadId& id : threads) tids.push_back(id.tid);
  return tids;
}

// A thread that has exited may still be listed for a moment, as a zombie.
bool Gone(const absl::StatusOr<ThreadInfo>& info) {
  return absl::IsNotFound(info.status()) ||
         (info.ok() && (info->state == 'Z' || info->state == 'X'));
}

}  // namespace

DeferredCheck::DeferredCheck(LeakCheckOptions options, std::string scope,
                             std::vector<ThreadId> threads)
    : options_(std::move(options)),
      scope_(std::move(scope)),
      started_(absl::Now()),
      threads_(std::move(threads)) {}

absl::StatusOr<std::optional<DeferredCheck>> DeferredCheck::Start(
    const LeakSnapshot& before, const LeakCheckOptions& options,
    std::string scope) {
  internal::HiddenFromTsan hidden;
  absl::StatusOr<std::vector<pid_t>> fresh = before.NewThreadsNow();
  if (!fresh.ok()) return fresh.status();
  std::vector<ThreadId> threads;
  for (absl::StatusOr<ThreadInfo>& info : ReadEachThreadInfo(*fresh)) {
    if (Gone(info)) continue;
    // Unknown is not gone: the caller checks the old way instead.
    if (!info.ok()) return info.status();
    threads.push_back(info->id);
  }
  if (threads.empty()) return std::nullopt;
  return DeferredCheck(ThreadsOnly(options), std::move(scope),
                       std::move(threads));
}

void DeferredCheck::ForgetEnded() {
  std::vector<absl::StatusOr<ThreadInfo>> now =
      ReadEachThreadInfo(Tids(threads_));
  std::vector<ThreadId> alive;
  for (size_t i = 0; i < threads_.size(); ++i) {
    // Kept unless it is known to be gone: an unreadable stat proves
    // nothing.
    if (!Gone(now[i]) && !(now[i].ok() && now[i]->id != threads_[i])) {
      alive.push_back(threads_[i]);
    }
  }
  threads_ = std::move(alive);
}

bool DeferredCheck::AllEnded() {
  internal::HiddenFromTsan hidden;
  ForgetEnded();
  return threads_.empty();
}

absl::StatusOr<LeakReport> DeferredCheck::Finish() {
  internal::HiddenFromTsan hidden;
  ForgetEnded();
  LeakReport report;
  if (!threads_.empty()) {
    // Everything alive now is "before", but the noted threads: the check
    // blames them if they stay past the deadline.
    absl::StatusOr<LeakSnapshot> now = LeakSnapshot::Take(options_);
    if (!now.ok()) return now.status();
    LeakCheckOptions rest = options_;
    rest.grace = std::max(deadline() - absl::Now(), absl::ZeroDuration());
    absl::StatusOr<LeakReport> found =
        FindLeaks(now->Without(Tids(threads_)), rest, scope_);
    if (!found.ok()) return found.status();
    report = *std::move(found);
    // Threads that others started meanwhile, or that took a noted tid, are
    // not the scope's. A dump built from the thread's own answer has no
    // start ticks: its tid is all there is to compare.
    auto not_noted = [this](const ThreadDump& thread) {
      const ThreadId& id = thread.info.id;
      auto noted = std::lower_bound(
          threads_.begin(), threads_.end(), id.tid,
          [](const ThreadId& a, pid_t tid) { return a.tid < tid; });
      return noted == threads_.end() || noted->tid != id.tid ||
             (id.start_ticks != 0 && id.start_ticks != noted->start_ticks);
    };
    report.threads.erase(
        std::remove_if(report.threads.begin(), report.threads.end(), not_noted),
        report.threads.end());
    if (static_cast<int>(report.threads.size()) <= options_.tolerance) {
      report.threads.clear();
    }
  } else {
    report.scope = scope_;
    report.format = options_.dump;
    report.checked_at = absl::Now();
  }
  report.grace = options_.grace;
  report.waited = report.checked_at - started_;
  return report;
}

}  // namespace taskleak
