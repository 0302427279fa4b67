// The leak check engine, independent of any test framework: take a snapshot
// before, then ask what is alive now that was not before.
//
//   taskleak::LeakCheckOptions options;
//   absl::StatusOr<taskleak::LeakSnapshot> before =
//       taskleak::LeakSnapshot::Take(options);
//   RunTheCodeUnderTest();
//   absl::StatusOr<taskleak::LeakReport> report =
//       taskleak::FindLeaks(*before, options, "my scope");
//   if (report.ok() && !report->clean()) std::cerr << report->Text();
//
// A clean check costs a few comparisons and one fstat, whatever the number of
// threads: no listing, no sleeping, no stack capture, no symbolization. With
// the pthread_create interposer linked in, the interposer's creation and exit
// counters and the kernel's thread count (LiveThreadCount) unchanged since the
// snapshot prove that no thread came or went; the snapshot itself reuses the
// last listing while the interposer's counters stay the same. A thread started
// without pthread_create (raw clone(), io_uring workers, glibc's helpers)
// moves the kernel's count and makes the check list /proc/self/task. For the
// case where another such thread ended meanwhile (perhaps leaving its tid to
// the new one), each snapshot keeps the start time of the threads the
// interposer did not start, but the main thread, and each check reads theirs
// again: one stat read per such thread (none in most processes; under
// ThreadSanitizer its background thread). A thread started between two checks
// (outside any test) is blamed on the test that follows. When something did
// change, the new threads come from the interposer's record as long as the
// counts add up (the kernel's count is the snapshot's plus the creations
// less the exits since), and from a listing otherwise. Without the
// interposer every snapshot and check lists. Only when something new is alive
// does the check poll with exponential backoff (1 ms doubling to 50 ms) until
// it is gone or the grace window ends, and then capture and symbolize what is
// left.
//
// Thread-safe: independent checks may run concurrently. Not async-signal-safe.

#ifndef TASKLEAK_LEAKCHECK_LEAK_CHECKER_H_
#define TASKLEAK_LEAKCHECK_LEAK_CHECKER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "taskleak/leakcheck/ignore_rules.h"
#include "taskleak/leakcheck/leak_report.h"
#include "taskleak/runtime/dump.h"
#include "taskleak/runtime/thread_list.h"

namespace taskleak {

struct LeakCheckOptions {
  // How long new threads, tasks and descriptors may take to go away. A total
  // budget for the polling, not a retry count.
  absl::Duration grace = absl::Seconds(1);
  // How many new threads, and separately how many new tasks, are allowed.
  int tolerance = 0;
  // Threads to leave alone (see ignore_rules.h).
  std::vector<IgnoreRule> ignore;
  // Also apply BuiltinIgnoreRules(): sanitizer, glibc and taskleak threads.
  bool builtin_ignores = true;
  // What to check.
  bool check_threads = true;
  bool check_tasks = true;
  bool check_fds = false;
  // Blame threads started by lazily initialized singletons (a function-local
  // static or std::call_once on the creation stack). By default they are
  // process-lifetime threads, mentioned in a note and not blamed.
  bool strict_singletons = false;
  // How stacks are captured and shown in the report.
  DumpOptions dump;
  // Called before each pause of the grace wait with how many new threads
  // and tasks it is waiting for, so that a dump made meanwhile can say so.
  // Runs on the checking thread; must not block.
  std::function<void(int threads, int tasks)> on_wait;
};

// What was alive at one moment.
class LeakSnapshot {
 public:
  // Lists threads, the task watermark and (if checked) open descriptors.
  // Fails if /proc cannot be read.
  static absl::StatusOr<LeakSnapshot> Take(const LeakCheckOptions& options);

  // The threads of this snapshot that `earlier` did not have: those started
  // between the two, still alive at this one. Sorted.
  std::vector<pid_t> ThreadsStartedSince(const LeakSnapshot& earlier) const;

  // The threads alive now that this snapshot did not have, or whose tid a
  // newer thread has taken: those a check against it would look at, found
  // without waiting, classifying or capturing. Sorted. Costs what a clean
  // check costs while no thread came or went. Fails only if /proc cannot
  // be read.
  absl::StatusOr<std::vector<pid_t>> NewThreadsNow() const;

  // A copy without `tids`: a check against it blames them if they are still
  // alive. A test framework checks a suite's set-up this way: the threads it
  // started are taken out of the snapshot at the suite's last test's end.
  LeakSnapshot Without(absl::Span<const pid_t> tids) const;

  // For tests and tools: the snapshot's contents.
  const absl::flat_hash_set<pid_t>& tids() const;
  uint64_t task_watermark() const { return task_watermark_; }

 private:
  friend absl::StatusOr<LeakReport> FindLeaks(const LeakSnapshot&,
                                              const LeakCheckOptions&,
                                              absl::string_view);
  static constexpr uint64_t kUnknownCount = ~uint64_t{0};
  // Tids of the snapshot that threads created since have reused.
  std::vector<pid_t> ReusedTids() const;
  // Whether one of the snapshot's unrecorded threads has ended, or its tid
  // now belongs to another thread (a different start time); those tids go
  // to `replaced`.
  bool UnrecordedThreadsChanged(std::vector<pid_t>* replaced) const;
  // What says, in constant time, whether the set of threads changed.
  struct ThreadCounters {
    // ThreadCreationCount(), when thread origins are recorded.
    uint64_t creations = kUnknownCount;
    uint64_t exits = 0;  // ThreadExitCount()
    int threads = -1;    // LiveThreadCount(), or -1 if unreadable
    // The counters now; the kernel's count only if asked (one fstat).
    static ThreadCounters Now(bool with_thread_count);
    // Whether both are known and equal: no thread came or went between them
    // (see the top of this file for the one exception).
    bool SameThreadsAs(const ThreadCounters& other) const;
    // Whether the kernel's count at `now` is this one's plus the threads
    // the interposer started since, less those that ended, with no start
    // pending: no thread came or went behind its back, and none that ended
    // lingers in /proc.
    bool AccountFor(const ThreadCounters& now) const;
  };
  friend struct ListingCache;
  // Shared with the listing cache and other snapshots: never copied.
  std::shared_ptr<const absl::flat_hash_set<pid_t>> tids_;
  // When origins are recorded: the identities of the listed threads that
  // the interposer has no record of (glibc's and sanitizers' helpers, raw
  // clone()), but the main thread, which cannot be replaced. Shared too.
  std::shared_ptr<const std::vector<ThreadId>> unrecorded_;
  ThreadCounters counters_;
  uint64_t task_watermark_ = 0;
  absl::flat_hash_set<int> fds_;
};

// Reports what is alive now and was not in `before`, after waiting up to
// options.grace for it to go away. `scope` names who is blamed (a test's
// name). Fails only if /proc cannot be read.
absl::StatusOr<LeakReport> FindLeaks(const LeakSnapshot& before,
                                     const LeakCheckOptions& options,
                                     absl::string_view scope);

// Whether the thread was started by a lazily initialized singleton: its
// creation stack passes through a function-local static's initializer or
// std::call_once (IsRunOnceFrame in runtime/frame_format.h).
bool StartedBySingleton(const ThreadDump& thread);

}  // namespace taskleak

#endif  // TASKLEAK_LEAKCHECK_LEAK_CHECKER_H_
