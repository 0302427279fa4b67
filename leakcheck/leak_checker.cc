#include "taskleak/leakcheck/leak_checker.h"

#include <unistd.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "taskleak/leakcheck/internal/match_memo.h"
#include "taskleak/leakcheck/internal/thread_classifier.h"
#include "taskleak/runtime/fd_list.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/internal/own_fds.h"
#include "taskleak/runtime/task_registry.h"
#include "taskleak/runtime/thread_list.h"
#include "taskleak/runtime/thread_origin.h"

namespace taskleak {
namespace {

constexpr absl::Duration kFirstPoll = absl::Milliseconds(1);
constexpr absl::Duration kLongestPoll = absl::Milliseconds(50);

// Descriptors opened since `before`, less those taskleak itself opened
// meanwhile (the symbolizer's files, while judging a thread).
absl::StatusOr<std::vector<int>> NewFds(
    const absl::flat_hash_set<int>& before) {
  absl::StatusOr<std::vector<int>> fds = ListFds();
  if (!fds.ok()) return fds.status();
  std::vector<int> fresh;
  for (int fd : *fds) {
    if (!before.contains(fd) && !internal::IsOwnFd(fd)) fresh.push_back(fd);
  }
  return fresh;
}

}  // namespace

// The last listing a snapshot made, with the counters read just before it.
// While the counters stay the same the listing is still true, and snapshots
// share it instead of reading /proc: a clean test costs the same with 10,000
// threads around as with none.
struct ListingCache {
  using Tids = std::shared_ptr<const absl::flat_hash_set<pid_t>>;
  using Ids = std::shared_ptr<const std::vector<ThreadId>>;
  static ListingCache& Get() {
    static ListingCache* cache = new ListingCache;
    return *cache;
  }
  // The listing, if no thread was created or ended through pthread_create
  // since, with the thread count it was taken at and its unrecorded threads.
  Tids Find(const LeakSnapshot::ThreadCounters& now, int* threads,
            Ids* unrecorded_ids) {
    std::lock_guard<std::mutex> lock(mu);
    if (tids == nullptr || now.creations == LeakSnapshot::kUnknownCount ||
        now.creations != counters.creations || now.exits != counters.exits) {
      return nullptr;
    }
    *threads = counters.threads;
    *unrecorded_ids = unrecorded;
    return tids;
  }
  // A listing without reading /proc, when the counts since the last one add
  // up and its unrecorded threads are still there: the threads are then the
  // main one, those unrecorded ones, and the live ones the interposer has on
  // record. So the thousand threads a test has just left behind are not
  // listed (5 ms) for the next test's snapshot. Null otherwise.
  Tids Rebuild(const LeakSnapshot::ThreadCounters& now, Ids* unrecorded_ids) {
    std::lock_guard<std::mutex> lock(mu);
    if (unrecorded == nullptr || !counters.AccountFor(now)) {
      return nullptr;
    }
    auto rebuilt = std::make_shared<absl::flat_hash_set<pid_t>>();
    rebuilt->insert(getpid());
    for (const ThreadId& id : *unrecorded) {
      absl::StatusOr<ThreadInfo> info = ReadThreadInfo(id.tid);
      if (!info.ok() || !(info->id == id)) return nullptr;
      rebuilt->insert(id.tid);
    }
    for (pid_t tid : ThreadsCreatedSince(0)) rebuilt->insert(tid);
    if (static_cast<int>(rebuilt->size()) != now.threads) return nullptr;
    counters = now;
    tids = std::move(rebuilt);
    *unrecorded_ids = unrecorded;
    return tids;
  }
  // Called when a check saw the kernel's count move: a thread came or went
  // behind the interposer's back.
  void Forget() {
    std::lock_guard<std::mutex> lock(mu);
    tids = nullptr;
  }
  void Store(const LeakSnapshot::ThreadCounters& before_listing, Tids listed,
             Ids unrecorded_ids) {
    std::lock_guard<std::mutex> lock(mu);
    counters = before_listing;
    tids = std::move(listed);
    unrecorded = std::move(unrecorded_ids);
  }
  std::mutex mu;
  LeakSnapshot::ThreadCounters counters;
  Tids tids;
  Ids unrecorded;
};

LeakSnapshot::ThreadCounters LeakSnapshot::ThreadCounters::Now(
    bool with_thread_count) {
  ThreadCounters c;
  // First, so that the probe thread it may start is counted.
  if (!ThreadOriginsRecorded()) return c;
  c.creations = ThreadCreationCount();
  c.exits = ThreadExitCount();
  if (!with_thread_count) return c;
  absl::StatusOr<int> threads = LiveThreadCount();
  if (threads.ok()) c.threads = *threads;
  return c;
}

bool LeakSnapshot::ThreadCounters::SameThreadsAs(
    const ThreadCounters& other) const {
  return creations != kUnknownCount && threads >= 0 &&
         creations == other.creations && exits == other.exits &&
         threads == other.threads;
}

const absl::flat_hash_set<pid_t>& LeakSnapshot::tids() const {
  static const auto* const kNone = new absl::flat_hash_set<pid_t>;
  return tids_ != nullptr ? *tids_ : *kNone;
}

std::vector<pid_t> LeakSnapshot::ThreadsStartedSince(
    const LeakSnapshot& earlier) const {
  std::vector<pid_t> started;
  for (pid_t tid : tids()) {
    if (!earlier.tids().contains(tid)) started.push_back(tid);
  }
  std::sort(started.begin(), started.end());
  return started;
}

bool LeakSnapshot::ThreadCounters::AccountFor(const ThreadCounters& now) const {
  if (creations == kUnknownCount || now.creations == kUnknownCount ||
      threads < 0 || now.threads < 0) {
    return false;
  }
  const int64_t created = static_cast<int64_t>(now.creations - creations);
  const int64_t ended = static_cast<int64_t>(now.exits - exits);
  return now.threads == threads + created - ended && !ThreadStartsPending();
}

absl::StatusOr<std::vector<pid_t>> LeakSnapshot::NewThreadsNow() const {
  internal::HiddenFromTsan hidden;
  std::vector<pid_t> taken;
  const bool unrecorded_changed = UnrecordedThreadsChanged(&taken);
  const ThreadCounters now = ThreadCounters::Now(/*with_thread_count=*/true);
  if (!unrecorded_changed && counters_.SameThreadsAs(now)) {
    return std::vector<pid_t>();
  }
  // The count may have moved behind the interposer.
  ListingCache::Get().Forget();
  // Every thread accounted for: the interposer's record of the threads
  // created since is the answer, and /proc need not be listed (5 ms for a
  // thousand threads it has not listed before). A thread started behind its
  // back moves the kernel's count past the sum, and is then listed; so does
  // one that has ended but lingers in /proc.
  if (!unrecorded_changed && counters_.AccountFor(now)) {
    std::vector<pid_t> fresh = ThreadsCreatedSince(counters_.creations);
    std::sort(fresh.begin(), fresh.end());
    return fresh;
  }
  absl::StatusOr<std::vector<pid_t>> alive = ListThreadIds();
  if (!alive.ok()) return alive.status();
  std::vector<pid_t> reused = ReusedTids();
  taken.insert(taken.end(), reused.begin(), reused.end());
  std::sort(taken.begin(), taken.end());
  std::vector<pid_t> fresh;
  for (pid_t tid : *alive) {
    if (!tids().contains(tid) ||
        std::binary_search(taken.begin(), taken.end(), tid)) {
      fresh.push_back(tid);
    }
  }
  std::sort(fresh.begin(), fresh.end());
  return fresh;
}

LeakSnapshot LeakSnapshot::Without(absl::Span<const pid_t> tids) const {
  LeakSnapshot copy = *this;
  if (tids.empty()) return copy;
  auto fewer = std::make_shared<absl::flat_hash_set<pid_t>>(this->tids());
  for (pid_t tid : tids) fewer->erase(tid);
  copy.tids_ = std::move(fewer);
  // Unknown: the check must list, even if no thread came or went since.
  copy.counters_.threads = -1;
  return copy;
}

// A tid is reused once its thread has ended; the new thread is not the one
// the snapshot saw. Its creation tells them apart, as ThreadId's start time
// would, without reading every thread's stat at each snapshot.
std::vector<pid_t> LeakSnapshot::ReusedTids() const {
  std::vector<pid_t> reused;
  if (counters_.creations == kUnknownCount) return reused;
  for (pid_t tid : ThreadsCreatedSince(counters_.creations)) {
    if (tids().contains(tid)) reused.push_back(tid);
  }
  return reused;
}

// Reads the start time of the few threads the interposer did not start:
// one stat read each (a few microseconds), none in a process that has no
// such thread but the main one.
std::shared_ptr<const std::vector<ThreadId>> UnrecordedThreads(
    const absl::flat_hash_set<pid_t>& tids) {
  auto ids = std::make_shared<std::vector<ThreadId>>();
  if (!ThreadOriginsRecorded()) return ids;
  const std::vector<pid_t> created = ThreadsCreatedSince(0);
  const absl::flat_hash_set<pid_t> recorded(created.begin(), created.end());
  const pid_t main_thread = getpid();
  for (pid_t tid : tids) {
    if (tid == main_thread || recorded.contains(tid)) continue;
    absl::StatusOr<ThreadInfo> info = ReadThreadInfo(tid);
    if (info.ok()) ids->push_back(info->id);
  }
  return ids;
}

// A thread the interposer did not start moves none of its counters, and
// leaves no creation record: one that ends while another starts keeps the
// counts as they were, and a new one on an old one's tid is told apart only
// by its start time (ThreadId).
bool LeakSnapshot::UnrecordedThreadsChanged(
    std::vector<pid_t>* replaced) const {
  bool changed = false;
  if (unrecorded_ == nullptr) return changed;
  for (const ThreadId& id : *unrecorded_) {
    absl::StatusOr<ThreadInfo> now = ReadThreadInfo(id.tid);
    if (now.ok() && now->id == id) continue;
    changed = true;
    if (now.ok()) replaced->push_back(id.tid);
  }
  return changed;
}

bool StartedBySingleton(const ThreadDump& thread) {
  return internal::StartedBySingletonAt(thread);
}

absl::StatusOr<LeakSnapshot> LeakSnapshot::Take(
    const LeakCheckOptions& options) {
  // Like all our bookkeeping, hidden from ThreadSanitizer: see
  // runtime/internal/hidden_from_tsan.h.
  internal::HiddenFromTsan hidden;
  LeakSnapshot snapshot;
  if (options.check_threads) {
    // Read before listing: a thread that starts meanwhile changes them, and
    // the next snapshot lists again.
    // A snapshot reads only the interposer's counters: the kernel's count
    // is read by each check, which forgets the listing when it moved.
    snapshot.counters_ = ThreadCounters::Now(/*with_thread_count=*/false);
    snapshot.tids_ = ListingCache::Get().Find(
        snapshot.counters_, &snapshot.counters_.threads, &snapshot.unrecorded_);
    if (snapshot.tids_ == nullptr) {
      snapshot.counters_ = ThreadCounters::Now(/*with_thread_count=*/true);
      snapshot.tids_ = ListingCache::Get().Rebuild(snapshot.counters_,
                                                   &snapshot.unrecorded_);
    }
    if (snapshot.tids_ == nullptr) {
      absl::StatusOr<std::vector<pid_t>> tids = ListThreadIds();
      if (!tids.ok()) return tids.status();
      snapshot.tids_ = std::make_shared<const absl::flat_hash_set<pid_t>>(
          tids->begin(), tids->end());
      snapshot.unrecorded_ = UnrecordedThreads(*snapshot.tids_);
      ListingCache::Get().Store(snapshot.counters_, snapshot.tids_,
                                snapshot.unrecorded_);
    }
  }
  if (options.check_tasks) snapshot.task_watermark_ = NextTaskId();
  if (options.check_fds) {
    // What we keep open for good is then open before the test starts.
    internal::OpenLongLivedDescriptors();
    LiveThreadCount().IgnoreError();
    absl::StatusOr<std::vector<int>> fds = ListFds();
    if (!fds.ok()) return fds.status();
    snapshot.fds_.insert(fds->begin(), fds->end());
  }
  return snapshot;
}

absl::StatusOr<LeakReport> FindLeaks(const LeakSnapshot& before,
                                     const LeakCheckOptions& options,
                                     absl::string_view scope) {
  internal::HiddenFromTsan hidden;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options.grace;
  internal::Checker checker(options);
  absl::Duration pause = kFirstPoll;
  std::vector<pid_t> threads;
  int64_t tasks = 0;
  std::vector<int> fds;
  // Without a grace window the first look is the last: nothing is waited
  // for, so nothing is worth a first, cheaper sighting.
  for (bool last_poll = options.grace <= absl::ZeroDuration();;) {
    bool unclassified = false;
    if (options.check_threads) {
      absl::StatusOr<std::vector<pid_t>> fresh = before.NewThreadsNow();
      if (!fresh.ok()) return fresh.status();
      absl::StatusOr<std::vector<pid_t>> blamed =
          checker.BlamedThreads(*fresh, last_poll);
      if (!blamed.ok()) return blamed.status();
      threads = *std::move(blamed);
      unclassified = checker.TakeUnclassified();
    }
    if (options.check_tasks) tasks = CountTasks(before.task_watermark_);
    if (options.check_fds) {
      absl::StatusOr<std::vector<int>> fresh = NewFds(before.fds_);
      if (!fresh.ok()) return fresh.status();
      fds = *std::move(fresh);
    }
    const bool within_tolerance =
        static_cast<int>(threads.size()) <= options.tolerance &&
        tasks <= options.tolerance && fds.empty();
    if (within_tolerance && !unclassified) break;
    if (last_poll) break;
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      last_poll = true;
      continue;
    }
    if (options.on_wait) {
      options.on_wait(checker.Undecided(), static_cast<int>(tasks));
    }
    // Woken as soon as a recorded thread ends: the check then returns
    // within about a millisecond of the last new thread ending (it may
    // linger in /proc for a moment), not at the next backoff step.
    const uint64_t exits = ThreadExitCount();
    if (ThreadOriginsRecorded()) {
      WaitForThreadExit(exits, std::min(pause, deadline - now));
    } else {
      absl::SleepFor(std::min(pause, deadline - now));
    }
    pause = ThreadExitCount() != exits ? kFirstPoll
                                       : std::min(pause * 2, kLongestPoll);
  }

  LeakReport report;
  report.scope = std::string(scope);
  report.grace = options.grace;
  report.format = options.dump;
  report.notes = checker.Notes();
  if (static_cast<int>(threads.size()) > options.tolerance) {
    absl::StatusOr<std::vector<ThreadDump>> dumps =
        checker.ReportDumps(threads);
    if (!dumps.ok()) return dumps.status();
    report.threads = *std::move(dumps);
  }
  if (tasks > options.tolerance) {
    report.tasks = DumpTasks(ListTasks(before.task_watermark_));
  }
  for (int fd : fds) {
    absl::StatusOr<std::string> target = ReadFdTarget(fd);
    if (target.ok()) report.fds.push_back(LeakedFd{fd, *std::move(target)});
  }
  report.checked_at = absl::Now();
  report.waited = report.checked_at - start;
  return report;
}

}  // namespace taskleak
