// Judging the threads a leak check finds new since its snapshot, poll after
// poll: which are blamed, which an ignore rule or the singleton rule
// accepts, and which may still change their verdict. Private to
// //leakcheck:leak_checker.

#ifndef TASKLEAK_LEAKCHECK_INTERNAL_THREAD_CLASSIFIER_H_
#define TASKLEAK_LEAKCHECK_INTERNAL_THREAD_CLASSIFIER_H_

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "taskleak/leakcheck/ignore_rules.h"
#include "taskleak/leakcheck/internal/match_memo.h"
#include "taskleak/leakcheck/leak_checker.h"
#include "taskleak/runtime/dump.h"
#include "taskleak/runtime/stack_capture.h"
#include "taskleak/runtime/thread_list.h"

namespace taskleak {
namespace internal {

// A thread that was not alive at the snapshot, as first seen.
struct Candidate {
  ThreadDump dump;
  // Index into the rules of the first one that matches, or -1.
  int rule = -1;
  bool singleton = false;
  // Whether everything the verdict depends on was known.
  bool settled = false;
  // Whether `dump` holds a capture of the current stack (or why there is
  // none), and in which poll it was judged.
  bool captured = false;
  int round = -1;
};

// A thread as the last poll's capture found it (Checker::CapturesFirst),
// with its creators as they were just before.
struct CapturedFirst {
  ThreadStack stack;
  std::vector<ThreadCreator> creators;
};

class Checker {
 public:
  explicit Checker(const LeakCheckOptions& options) : options_(options) {}

  // Judges `fresh`, the threads alive now that are new since the snapshot
  // (LeakSnapshot::NewThreadsNow), and returns the tids that are blamed. A
  // thread is judged (name, creation stack, ignore rules) only
  // once it has been seen twice, or at the last poll: a thread that was just
  // joined can linger in /proc for a moment, and should cost nothing. It is
  // judged again while its verdict may change: it was still starting (no
  // recorded origin yet, or signals blocked as glibc does at thread start),
  // or it has renamed itself since. A thread an ignore rule accepts is
  // decided at once (glibc's helpers linger for a second or for ever).
  absl::StatusOr<std::vector<pid_t>> BlamedThreads(
      absl::Span<const pid_t> fresh_now, bool last_poll);

  // Whether the last BlamedThreads saw new threads it has not judged yet.
  bool TakeUnclassified() { return std::exchange(unclassified_, false); }

  // New threads the last BlamedThreads saw alive and did not accept.
  int Undecided() const { return undecided_; }

  // Notes for singletons that were left alone, with their current names
  // (a thread may have named itself after it was judged).
  std::vector<std::string> Notes() const;

  // The blamed threads' dumps for the report. A thread judged in the last
  // poll from a capture keeps that capture, taken moments ago: it is not
  // captured and symbolized again. The others are captured now. At the last
  // poll, when more threads are new than the tolerance allows, that capture
  // comes first and also names the threads (CapturesFirst).
  absl::StatusOr<std::vector<ThreadDump>> ReportDumps(
      absl::Span<const pid_t> tids) const;

 private:
  // The rules, gathered only once a new thread needs judging: clean checks
  // never pay for them.
  void GatherRules();

  // Whether judging the thread needs its current stack. The built-in rules
  // look at stacks only for threads the interposer did not record (sanitizer
  // and glibc helpers); so a recorded thread is never captured unless a
  // rule of the user's looks at stacks. A thread that merely lingers is then
  // waited for without a single capture.
  bool NeedsStack(const ThreadInfo& info) const;

  // Judges `threads`; those in `first` (by tid) are judged with that
  // capture and those creators, and not captured again.
  void Classify(const std::vector<ThreadInfo>& threads,
                const absl::flat_hash_map<pid_t, const CapturedFirst*>& first);

  // The last look, when it may end in a report: whether one capture should
  // serve both the verdict and the report, and describe the threads that
  // answer it (ThreadStack::self) so that only the others are read from
  // /proc.
  bool CapturesFirst(size_t fresh) const;

  const LeakCheckOptions& options_;
  std::vector<IgnoreRule> rules_;
  // Gathered first: rules_ do not change once it is used.
  MatchMemo memo_{&rules_};
  bool rules_gathered_ = false;
  bool user_rules_need_stack_ = false;
  absl::flat_hash_map<pid_t, Candidate> candidates_;
  absl::flat_hash_set<pid_t> seen_once_;
  bool unclassified_ = false;
  int undecided_ = 0;
  // BlamedThreads calls so far.
  int round_ = 0;
};

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_LEAKCHECK_INTERNAL_THREAD_CLASSIFIER_H_
