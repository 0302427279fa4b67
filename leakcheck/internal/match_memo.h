// Which ignore rule first accepts a thread, and whether a lazily initialized
// singleton started it, remembered for threads alike. Private to
// //leakcheck:leak_checker.
//
// Every rule but a predicate looks only at a thread's name or at one of its
// stacks, and threads with the same stack share its frames (SharedFrames).
// So each answer is worked out once per name or stack: a thousand threads
// parked alike cost a few regular-expression and frame matches, not a
// thousand. A predicate sees the whole dump and still runs for each thread.

#ifndef TASKLEAK_LEAKCHECK_INTERNAL_MATCH_MEMO_H_
#define TASKLEAK_LEAKCHECK_INTERNAL_MATCH_MEMO_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "taskleak/leakcheck/ignore_rules.h"
#include "taskleak/runtime/dump.h"

namespace taskleak {
namespace internal {

// StartedBySingleton (leak_checker.h), worked out afresh.
bool StartedBySingletonAt(const ThreadDump& thread);

class MatchMemo {
 public:
  // `rules` must outlive the memo and stay as they are.
  explicit MatchMemo(const std::vector<IgnoreRule>* rules) : rules_(rules) {}

  // The index of the first rule that matches `thread`, or -1.
  int FirstMatch(const ThreadDump& thread);

  // StartedBySingleton(thread).
  bool StartedBySingleton(const ThreadDump& thread);

 private:
  // A rule's answer for the stack whose first frame is at the key. The
  // frames are held, so that no other stack can take that address.
  using ByStack =
      absl::flat_hash_map<const void*, std::pair<SharedFrames, bool>>;

  bool Matches(size_t rule, const ThreadDump& thread);

  const std::vector<IgnoreRule>* rules_;
  std::vector<ByStack> by_stack_;
  std::vector<absl::flat_hash_map<std::string, bool>> by_name_;
  ByStack singleton_;
};

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_LEAKCHECK_INTERNAL_MATCH_MEMO_H_
