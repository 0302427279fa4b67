#include "taskleak/leakcheck/leak_checker.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

// Frames that mean "this runs once, from a lazily initialized singleton".
constexpr absl::string_view kOnceFunctions[] = {
    "std::call_once", "__once_proxy", "pthread_once", "__pthread_once_slow"};

// A thread that was not alive at the snapshot, as first seen.
struct Candidate {
  ThreadDump dump;
  // Index into the rules of the first one that matches, or -1.
  int rule = -1;
  bool singleton = false;
  // Whether everything the verdict depends on was known.
  bool settled = false;
};

// A thread's name and creation stacks, without its current stack.
ThreadDump NameAndCreatorsOf(const ThreadInfo& info) {
  ThreadDump dump;
  dump.info = info;
  dump.stack_unavailable_reason = "not captured";
  dump.created_by = CreatorsOf(info.id.tid);
  return dump;
}

class Checker {
 public:
  explicit Checker(const LeakCheckOptions& options) : options_(options) {}

  // Reads the threads that are new since `before` and returns the tids that
  // are blamed. A thread is judged (name, creation stack, ignore rules) only
  // once it has been seen twice, or at the last poll: a thread that was just
  // joined can linger in /proc for a moment, and should cost nothing. It is
  // judged again while its verdict may change: it was still starting (no
  // recorded origin yet, or signals blocked as glibc does at thread start),
  // or it has renamed itself since. A thread an ignore rule accepts is
  // decided at once (glibc's helpers linger for a second or for ever).
  absl::StatusOr<std::vector<pid_t>> BlamedThreads(
      const absl::flat_hash_set<pid_t>& before, bool last_poll) {
    absl::StatusOr<std::vector<pid_t>> tids = ListThreadIds();
    if (!tids.ok()) return tids.status();
    std::vector<pid_t> alive;
    std::vector<ThreadInfo> to_classify;
    undecided_ = 0;
    for (pid_t tid : *tids) {
      if (before.contains(tid)) continue;
      if (!last_poll && seen_once_.insert(tid).second) {
        unclassified_ = true;
        ++undecided_;
        continue;
      }
      absl::StatusOr<ThreadInfo> info = ReadThreadInfo(tid);
      if (absl::IsNotFound(info.status())) continue;  // exited just now
      if (!info.ok()) return info.status();
      auto it = candidates_.find(tid);
      if (it == candidates_.end() || !it->second.settled ||
          it->second.dump.info.name != info->name) {
        to_classify.push_back(*std::move(info));
      } else {
        it->second.dump.info = *std::move(info);
      }
      alive.push_back(tid);
    }
    if (!to_classify.empty()) Classify(to_classify);
    std::sort(alive.begin(), alive.end());
    std::vector<pid_t> blamed;
    std::vector<int> matches(rules_.size(), 0);
    for (pid_t tid : alive) {
      const Candidate& c = candidates_.at(tid);
      // A verdict that may still change must not end the wait early.
      if (!c.settled) unclassified_ = true;
      bool accepted = c.singleton && !options_.strict_singletons;
      if (!accepted && c.rule >= 0) {
        const int allowed = rules_[c.rule].tolerance();
        accepted = allowed < 0 || ++matches[c.rule] <= allowed;
      }
      if (!accepted || !c.settled) ++undecided_;
      if (!accepted) blamed.push_back(tid);
    }
    return blamed;
  }

  // Whether the last BlamedThreads saw new threads it has not judged yet.
  bool TakeUnclassified() { return std::exchange(unclassified_, false); }

  // New threads the last BlamedThreads saw alive and did not accept.
  int Undecided() const { return undecided_; }

  // Notes for singletons that were left alone, with their current names
  // (a thread may have named itself after it was judged).
  std::vector<std::string> Notes() const {
    std::vector<std::string> notes;
    if (options_.strict_singletons) return notes;
    for (const auto& [tid, c] : candidates_) {
      if (!c.singleton) continue;
      absl::StatusOr<ThreadInfo> now = ReadThreadInfo(tid);
      notes.push_back(absl::StrFormat(
          "thread %d \"%s\" was started by a lazily initialized singleton "
          "and lives as long as the process; it is not blamed (strict "
          "singletons would blame it)",
          tid, now.ok() ? now->name : c.dump.info.name));
    }
    return notes;
  }

  std::vector<ThreadInfo> InfoOf(absl::Span<const pid_t> tids) const {
    std::vector<ThreadInfo> infos;
    for (pid_t tid : tids) infos.push_back(candidates_.at(tid).dump.info);
    return infos;
  }

 private:
  // The rules, gathered only once a new thread needs judging: clean checks
  // never pay for them.
  void GatherRules() {
    if (rules_gathered_) return;
    rules_gathered_ = true;
    rules_ = options_.ignore;
    for (const IgnoreRule& rule : rules_) {
      user_rules_need_stack_ = user_rules_need_stack_ || rule.NeedsStack();
    }
    if (options_.builtin_ignores) {
      static const std::vector<IgnoreRule>* builtins =
          new std::vector<IgnoreRule>(BuiltinIgnoreRules());
      rules_.insert(rules_.end(), builtins->begin(), builtins->end());
    }
  }

  // Whether judging the thread needs its current stack. The built-in rules
  // look at stacks only for threads the interposer did not record (sanitizer
  // and glibc helpers); so a recorded thread is never captured unless a
  // rule of the user's looks at stacks. A thread that merely lingers is then
  // waited for without a single capture.
  bool NeedsStack(const ThreadInfo& info) const {
    if (user_rules_need_stack_) return true;
    if (!options_.builtin_ignores) return false;
    return !ThreadOriginsRecorded() || CreationOf(info.id.tid) == nullptr;
  }

  void Classify(const std::vector<ThreadInfo>& threads) {
    GatherRules();
    std::vector<ThreadInfo> to_capture;
    // The threads were listed before this: with no start pending now, one
    // without an origin will never get one.
    const bool origins_final =
        !ThreadOriginsRecorded() || !ThreadStartsPending();
    std::vector<ThreadDump> dumps;
    for (const ThreadInfo& info : threads) {
      if (NeedsStack(info)) {
        to_capture.push_back(info);
        continue;
      }
      dumps.push_back(NameAndCreatorsOf(info));
    }
    if (!to_capture.empty()) {
      absl::StatusOr<std::vector<ThreadDump>> captured =
          DumpThreads(to_capture, options_.dump);
      for (size_t i = 0; i < to_capture.size(); ++i) {
        if (captured.ok() && i < captured->size()) {
          dumps.push_back(std::move((*captured)[i]));
        } else {
          // Rules on stacks then never match.
          dumps.push_back(NameAndCreatorsOf(to_capture[i]));
        }
      }
    }
    for (ThreadDump& dump : dumps) {
      Candidate c;
      for (int i = 0; i < static_cast<int>(rules_.size()); ++i) {
        if (rules_[i].Matches(dump)) {
          c.rule = i;
          break;
        }
      }
      c.singleton = StartedBySingleton(dump);
      const bool origin_final = !dump.created_by.empty() || origins_final;
      // A thread a rule accepts is decided at once, unless its origin may
      // still appear: it is never waited for, however long it lives.
      c.settled = (c.rule >= 0 && origin_final) ||
                  ((!NeedsStack(dump.info) || dump.stack_available) &&
                   (!ThreadOriginsRecorded() || !dump.created_by.empty()));
      const pid_t tid = dump.info.id.tid;
      c.dump = std::move(dump);
      candidates_.insert_or_assign(tid, std::move(c));
    }
  }

  const LeakCheckOptions& options_;
  std::vector<IgnoreRule> rules_;
  bool rules_gathered_ = false;
  bool user_rules_need_stack_ = false;
  absl::flat_hash_map<pid_t, Candidate> candidates_;
  absl::flat_hash_set<pid_t> seen_once_;
  bool unclassified_ = false;
  int undecided_ = 0;
};

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
  static ListingCache& Get() {
    static ListingCache* cache = new ListingCache;
    return *cache;
  }
  // The listing, if no thread was created or ended through pthread_create
  // since, with the thread count it was taken at.
  Tids Find(const LeakSnapshot::ThreadCounters& now, int* threads) {
    std::lock_guard<std::mutex> lock(mu);
    if (tids == nullptr || now.creations == LeakSnapshot::kUnknownCount ||
        now.creations != counters.creations || now.exits != counters.exits) {
      return nullptr;
    }
    *threads = counters.threads;
    return tids;
  }
  // Called when a check saw the kernel's count move: a thread came or went
  // behind the interposer's back.
  void Forget() {
    std::lock_guard<std::mutex> lock(mu);
    tids = nullptr;
  }
  void Store(const LeakSnapshot::ThreadCounters& before_listing, Tids listed) {
    std::lock_guard<std::mutex> lock(mu);
    counters = before_listing;
    tids = std::move(listed);
  }
  std::mutex mu;
  LeakSnapshot::ThreadCounters counters;
  Tids tids;
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

bool StartedBySingleton(const ThreadDump& thread) {
  if (thread.created_by.empty()) return false;
  if (thread.created_by[0].in_static_initializer) return true;
  for (const SymbolizedFrame& frame : thread.created_by[0].stack) {
    for (absl::string_view once : kOnceFunctions) {
      if (FunctionNameMatches(frame.function, once)) return true;
    }
  }
  return false;
}

absl::StatusOr<LeakSnapshot> LeakSnapshot::Take(
    const LeakCheckOptions& options) {
  // Like all our bookkeeping, hidden from ThreadSanitizer: see
  // runtime/internal/hidden_from_tsan.h.
  internal::HiddenFromTsan hidden;
  LeakSnapshot snapshot;
  snapshot.taken_at_ = absl::Now();
  if (options.check_threads) {
    // Read before listing: a thread that starts meanwhile changes them, and
    // the next snapshot lists again.
    // A snapshot reads only the interposer's counters: the kernel's count
    // is read by each check, which forgets the listing when it moved.
    snapshot.counters_ = ThreadCounters::Now(/*with_thread_count=*/false);
    snapshot.tids_ = ListingCache::Get().Find(snapshot.counters_,
                                              &snapshot.counters_.threads);
    if (snapshot.tids_ == nullptr) {
      snapshot.counters_ = ThreadCounters::Now(/*with_thread_count=*/true);
      absl::StatusOr<std::vector<pid_t>> tids = ListThreadIds();
      if (!tids.ok()) return tids.status();
      snapshot.tids_ = std::make_shared<const absl::flat_hash_set<pid_t>>(
          tids->begin(), tids->end());
      ListingCache::Get().Store(snapshot.counters_, snapshot.tids_);
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
  Checker checker(options);
  absl::Duration pause = kFirstPoll;
  std::vector<pid_t> threads;
  int64_t tasks = 0;
  std::vector<int> fds;
  for (bool last_poll = false;;) {
    bool unclassified = false;
    // No thread came or went since the snapshot: nothing new to list.
    if (options.check_threads &&
        !before.counters_.SameThreadsAs(
            LeakSnapshot::ThreadCounters::Now(/*with_thread_count=*/true))) {
      ListingCache::Get().Forget();
      const std::vector<pid_t> reused = before.ReusedTids();
      absl::flat_hash_set<pid_t> still_theirs;
      if (!reused.empty()) {
        still_theirs = before.tids();
        for (pid_t tid : reused) still_theirs.erase(tid);
      }
      absl::StatusOr<std::vector<pid_t>> blamed = checker.BlamedThreads(
          reused.empty() ? before.tids() : still_theirs, last_poll);
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
        DumpThreads(checker.InfoOf(threads), options.dump);
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
