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
  // As FindLeaks does: unchanged counters prove nothing came or went, but
  // for threads the interposer did not start, which are looked at anyway.
  std::vector<pid_t> fresh;
  const bool unrecorded_changed = before.UnrecordedThreadsChanged(&fresh);
  if (!unrecorded_changed &&
      before.counters_.SameThreadsAs(
          LeakSnapshot::ThreadCounters::Now(/*with_thread_count=*/true))) {
    return std::nullopt;
  }
  absl::StatusOr<std::vector<pid_t>> alive = ListThreadIds();
  if (!alive.ok()) return alive.status();
  std::vector<pid_t> reused = before.ReusedTids();
  std::sort(reused.begin(), reused.end());
  fresh.insert(fresh.end(), reused.begin(), reused.end());
  std::sort(fresh.begin(), fresh.end());
  std::vector<pid_t> started;
  for (pid_t tid : *alive) {
    if (!before.tids().contains(tid) ||
        std::binary_search(fresh.begin(), fresh.end(), tid)) {
      started.push_back(tid);
    }
  }
  std::sort(started.begin(), started.end());
  std::vector<ThreadId> threads;
  std::vector<absl::StatusOr<ThreadInfo>> infos = ReadEachThreadInfo(started);
  for (absl::StatusOr<ThreadInfo>& info : infos) {
    if (info.ok()) threads.push_back(info->id);  // Else it has just ended.
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
    const bool gone = absl::IsNotFound(now[i].status()) ||
                      (now[i].ok() && now[i]->id != threads_[i]);
    if (!gone) alive.push_back(threads_[i]);
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
    const std::vector<pid_t> tids = Tids(threads_);
    LeakCheckOptions rest = options_;
    rest.grace = std::max(deadline() - absl::Now(), absl::ZeroDuration());
    absl::StatusOr<LeakReport> found =
        FindLeaks(now->Without(tids), rest, scope_);
    if (!found.ok()) return found.status();
    report = *std::move(found);
    auto not_noted = [&tids](const ThreadDump& thread) {
      return !std::binary_search(tids.begin(), tids.end(), thread.info.id.tid);
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
