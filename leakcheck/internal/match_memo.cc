#include "taskleak/leakcheck/internal/match_memo.h"

#include "taskleak/runtime/frame_format.h"

namespace taskleak {
namespace internal {
namespace {

// `compute()` for `stack`, worked out once per stack. An empty stack is not
// remembered: its frames have no address, and its answer is cheap.
template <typename Compute>
bool Remember(
    absl::flat_hash_map<const void*, std::pair<SharedFrames, bool>>& memo,
    const SharedFrames& stack, Compute compute) {
  if (stack.empty()) return compute();
  auto it = memo.find(stack.data());
  if (it == memo.end()) {
    it = memo.emplace(stack.data(), std::make_pair(stack, compute())).first;
  }
  return it->second.second;
}

}  // namespace

bool StartedBySingletonAt(const ThreadDump& thread) {
  if (thread.created_by.empty()) return false;
  if (thread.created_by[0].in_static_initializer) return true;
  for (const SymbolizedFrame& frame : thread.created_by[0].stack) {
    if (IsRunOnceFrame(frame)) return true;
  }
  return false;
}

bool MatchMemo::Matches(size_t i, const ThreadDump& thread) {
  const IgnoreRule& rule = (*rules_)[i];
  auto compute = [&rule, &thread] { return rule.Matches(thread); };
  switch (rule.kind()) {
    case IgnoreRule::Kind::kThreadName: {
      auto it = by_name_[i].find(thread.info.name);
      if (it == by_name_[i].end()) {
        it = by_name_[i].emplace(thread.info.name, compute()).first;
      }
      return it->second;
    }
    case IgnoreRule::Kind::kTopFunction:
    case IgnoreRule::Kind::kAnyFunction:
      return Remember(by_stack_[i], thread.stack, compute);
    case IgnoreRule::Kind::kCreatedBy:
      if (thread.created_by.empty()) return compute();
      return Remember(by_stack_[i], thread.created_by[0].stack, compute);
    case IgnoreRule::Kind::kPredicate:
      break;
  }
  return compute();
}

int MatchMemo::FirstMatch(const ThreadDump& thread) {
  // The rules are gathered after the memo is made.
  by_stack_.resize(rules_->size());
  by_name_.resize(rules_->size());
  for (size_t i = 0; i < rules_->size(); ++i) {
    if (Matches(i, thread)) return static_cast<int>(i);
  }
  return -1;
}

bool MatchMemo::StartedBySingleton(const ThreadDump& thread) {
  if (thread.created_by.empty() || thread.created_by[0].in_static_initializer) {
    return StartedBySingletonAt(thread);
  }
  return Remember(singleton_, thread.created_by[0].stack,
                  [&thread] { return StartedBySingletonAt(thread); });
}

}  // namespace internal
}  // namespace taskleak
