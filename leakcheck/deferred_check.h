// A thread check that does not hold up the end of its scope. Where
// FindLeaks waits at the scope's end for new threads to go, a deferred
// check notes the new threads still alive and lets the program go on (the
// next test runs); later, Finish waits out what is left of the grace window
// for those threads only and reports the ones still alive, blamed on the
// scope, as FindLeaks would have. For suites whose threads end a few hundred
// milliseconds after their tests: the waiting overlaps the next tests.
//
//   absl::StatusOr<std::optional<taskleak::DeferredCheck>> pending =
//       taskleak::DeferredCheck::Start(before, options, "Suite.Test");
//   RunTheNextTests();
//   if (pending.ok() && pending->has_value() && !(*pending)->AllEnded()) {
//     absl::StatusOr<taskleak::LeakReport> report = (*pending)->Finish();
//   }
//
// A thread counts as leaked if it is alive when Finish looks after the
// window has closed: call Finish as soon as the deadline has passed, for a
// thread that ends later is not seen. Threads only: tasks and descriptors
// are for FindLeaks at the scope's end. A thread is known by its identity
// (tid and start time), so a later thread on a reused tid is never blamed
// on the scope. Not thread-safe (one object is used by one thread at a
// time; different objects are independent) and not async-signal-safe.

#ifndef TASKLEAK_LEAKCHECK_DEFERRED_CHECK_H_
#define TASKLEAK_LEAKCHECK_DEFERRED_CHECK_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "taskleak/leakcheck/leak_checker.h"
#include "taskleak/leakcheck/leak_report.h"
#include "taskleak/runtime/thread_list.h"

namespace taskleak {

class DeferredCheck {
 public:
  // At the scope's end: notes the threads started since `before` that are
  // alive now. Returns nullopt if there are none, and the check is over.
  // options.grace runs from now; only the thread check of `options` is
  // used. Fails if /proc cannot be read.
  static absl::StatusOr<std::optional<DeferredCheck>> Start(
      const LeakSnapshot& before, const LeakCheckOptions& options,
      std::string scope);

  // Whether every noted thread has ended: one stat read per thread still
  // alive at the last look, no waiting.
  bool AllEnded();

  // Waits for what is left of the grace window (nothing, if it is over) for
  // the noted threads, and reports those still alive, blamed on the scope;
  // the report's grace is the whole window and its wait counts from Start.
  // Threads started meanwhile by others are not the scope's and are left
  // out. Fails only if /proc cannot be read.
  absl::StatusOr<LeakReport> Finish();

  const std::string& scope() const { return scope_; }
  // When the grace window closes.
  absl::Time deadline() const { return started_ + options_.grace; }

 private:
  DeferredCheck(LeakCheckOptions options, std::string scope,
                std::vector<ThreadId> threads);
  // Drops the noted threads that have ended (or whose tid is another's now).
  void ForgetEnded();

  LeakCheckOptions options_;
  std::string scope_;
  absl::Time started_;
  // Sorted by tid.
  std::vector<ThreadId> threads_;
};

}  // namespace taskleak

#endif  // TASKLEAK_LEAKCHECK_DEFERRED_CHECK_H_
