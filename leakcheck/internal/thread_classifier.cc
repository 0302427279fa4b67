#include "taskleak/leakcheck/internal/thread_classifier.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "taskleak/runtime/stack_capture.h"
#include "taskleak/runtime/thread_origin.h"

namespace taskleak {
namespace internal {
namespace {

// A thread's name and creation stacks, without its current stack.
ThreadDump NameAndCreatorsOf(const ThreadInfo& info) {
  ThreadDump dump;
  dump.info = info;
  dump.stack_unavailable_reason = "not captured";
  dump.created_by = CreatorsOf(info.id.tid);
  return dump;
}

// ReadEachThreadInfo for `tids`, except that a thread that answered the
// capture (`first`, in the same order) with a full report on itself is
// described from that report: its name and CPU time as /proc would give
// them, its state at the moment of the signal, and its start from the
// interposer's record (its ThreadId then has no start ticks). One that
// answered is never taken for gone: the signal may well have ended it (a
// thread in pause() returns from it), after the moment the check judges.
std::vector<absl::StatusOr<ThreadInfo>> InfoFromCapture(
    absl::Span<const pid_t> tids, absl::Span<const CapturedFirst> first) {
  auto from_report = [&](size_t i) {
    const ThreadStack::SelfReport& self = first[i].stack.self;
    ThreadInfo info;
    info.id.tid = tids[i];
    info.name = self.name;
    info.state = self.state;
    info.cpu_time = self.cpu_time;
    info.start_time = first[i].creators[0].created_at;
    return info;
  };
  // It answered, and its start is known.
  auto answered = [&](size_t i) {
    return first[i].stack.self.reported && !first[i].creators.empty();
  };
  std::vector<absl::StatusOr<ThreadInfo>> infos(tids.size(),
                                                absl::UnknownError(""));
  std::vector<pid_t> unreported;
  std::vector<size_t> unreported_at;
  for (size_t i = 0; i < tids.size(); ++i) {
    const ThreadStack::SelfReport& self = first[i].stack.self;
    if (answered(i) && self.state != '?' && !self.name.empty()) {
      infos[i] = from_report(i);
    } else {
      unreported.push_back(tids[i]);
      unreported_at.push_back(i);
    }
  }
  std::vector<absl::StatusOr<ThreadInfo>> read = ReadEachThreadInfo(unreported);
  for (size_t j = 0; j < read.size(); ++j) {
    const size_t i = unreported_at[j];
    if (absl::IsNotFound(read[j].status()) && answered(i)) {
      infos[i] = from_report(i);
    } else {
      infos[i] = std::move(read[j]);
    }
  }
  return infos;
}

}  // namespace

bool Checker::CapturesFirst(size_t fresh) const {
  return ThreadOriginsRecorded() &&
         fresh > static_cast<size_t>(std::max(options_.tolerance, 0));
}

absl::StatusOr<std::vector<pid_t>> Checker::BlamedThreads(
    absl::Span<const pid_t> fresh_now, bool last_poll) {
  ++round_;
  undecided_ = 0;
  // The clean check's case: nothing to read or judge.
  if (fresh_now.empty()) return std::vector<pid_t>();
  std::vector<pid_t> alive;
  std::vector<ThreadInfo> to_classify;
  std::vector<pid_t> fresh;
  for (pid_t tid : fresh_now) {
    if (!last_poll && seen_once_.insert(tid).second) {
      unclassified_ = true;
      ++undecided_;
      continue;
    }
    fresh.push_back(tid);
  }
  // Their creators are read before the capture, which may end a thread
  // (a settled candidate's are final).
  std::vector<CapturedFirst> first;
  if (last_poll && CapturesFirst(fresh.size())) {
    first.resize(fresh.size());
    for (size_t i = 0; i < fresh.size(); ++i) {
      auto known = candidates_.find(fresh[i]);
      first[i].creators = known != candidates_.end() && known->second.settled
                              ? known->second.dump.created_by
                              : CreatorsOf(fresh[i]);
    }
    absl::StatusOr<std::vector<ThreadStack>> captured =
        CaptureThreadStacks(fresh, options_.dump.capture);
    if (captured.ok() && captured->size() == fresh.size()) {
      for (size_t i = 0; i < fresh.size(); ++i) {
        first[i].stack = std::move((*captured)[i]);
      }
    } else {
      first.clear();
    }
  }
  absl::flat_hash_map<pid_t, const CapturedFirst*> first_of;
  for (size_t i = 0; i < first.size(); ++i) first_of[fresh[i]] = &first[i];
  std::vector<absl::StatusOr<ThreadInfo>> infos =
      first.empty() ? ReadEachThreadInfo(fresh) : InfoFromCapture(fresh, first);
  for (size_t i = 0; i < fresh.size(); ++i) {
    const pid_t tid = fresh[i];
    absl::StatusOr<ThreadInfo>& info = infos[i];
    if (absl::IsNotFound(info.status())) continue;  // exited just now
    if (!info.ok()) return info.status();
    auto it = candidates_.find(tid);
    if (it == candidates_.end() || !it->second.settled ||
        it->second.dump.info.name != info->name) {
      to_classify.push_back(*std::move(info));
    } else {
      Candidate& c = it->second;
      c.dump.info = *std::move(info);
      if (!first.empty()) {
        SetCapturedStack(first[i].stack, &c.dump);
        c.captured = true;
        c.round = round_;
      }
    }
    alive.push_back(tid);
  }
  if (!to_classify.empty()) Classify(to_classify, first_of);
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

std::vector<std::string> Checker::Notes() const {
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

absl::StatusOr<std::vector<ThreadDump>> Checker::ReportDumps(
    absl::Span<const pid_t> tids) const {
  std::vector<ThreadDump> dumps(tids.size());
  std::vector<pid_t> to_capture;
  std::vector<size_t> slots;
  for (size_t i = 0; i < tids.size(); ++i) {
    const Candidate& c = candidates_.at(tids[i]);
    // Name, state and "created by" are this round's already.
    dumps[i] = c.dump;
    if (!c.captured || c.round != round_) {
      to_capture.push_back(tids[i]);
      slots.push_back(i);
    }
  }
  if (to_capture.empty()) return dumps;
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks(to_capture, options_.dump.capture);
  if (!stacks.ok()) return stacks.status();
  for (size_t j = 0; j < slots.size() && j < stacks->size(); ++j) {
    SetCapturedStack((*stacks)[j], &dumps[slots[j]]);
  }
  return dumps;
}

void Checker::GatherRules() {
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

bool Checker::NeedsStack(const ThreadInfo& info) const {
  if (user_rules_need_stack_) return true;
  if (!options_.builtin_ignores) return false;
  return !ThreadOriginsRecorded() || CreationOf(info.id.tid) == nullptr;
}

void Checker::Classify(
    const std::vector<ThreadInfo>& threads,
    const absl::flat_hash_map<pid_t, const CapturedFirst*>& first) {
  GatherRules();
  std::vector<ThreadInfo> to_capture;
  // The threads were listed before this: with no start pending now, one
  // without an origin will never get one.
  const bool origins_final = !ThreadOriginsRecorded() || !ThreadStartsPending();
  // Each with whether it holds a capture.
  std::vector<std::pair<ThreadDump, bool>> dumps;
  dumps.reserve(threads.size());
  candidates_.reserve(candidates_.size() + threads.size());
  for (const ThreadInfo& info : threads) {
    auto captured = first.find(info.id.tid);
    if (captured != first.end()) {
      ThreadDump dump;
      dump.info = info;
      dump.created_by = captured->second->creators;
      SetCapturedStack(captured->second->stack, &dump);
      dumps.emplace_back(std::move(dump), true);
      continue;
    }
    if (NeedsStack(info)) {
      to_capture.push_back(info);
      continue;
    }
    dumps.emplace_back(NameAndCreatorsOf(info), false);
  }
  if (!to_capture.empty()) {
    absl::StatusOr<std::vector<ThreadDump>> captured =
        DumpThreads(to_capture, options_.dump);
    for (size_t i = 0; i < to_capture.size(); ++i) {
      if (captured.ok() && i < captured->size()) {
        dumps.emplace_back(std::move((*captured)[i]), true);
      } else {
        // Rules on stacks then never match.
        dumps.emplace_back(NameAndCreatorsOf(to_capture[i]), false);
      }
    }
  }
  for (auto& [dump, captured] : dumps) {
    Candidate c;
    c.captured = captured;
    c.round = round_;
    c.rule = memo_.FirstMatch(dump);
    c.singleton = memo_.StartedBySingleton(dump);
    const bool origin_final = !dump.created_by.empty() || origins_final;
    // A thread a rule accepts is decided at once, unless its origin may
    // still appear: it is never waited for, however long it lives.
    c.settled = (c.rule >= 0 && origin_final) ||
                ((dump.stack_available || !NeedsStack(dump.info)) &&
                 (!ThreadOriginsRecorded() || !dump.created_by.empty()));
    const pid_t tid = dump.info.id.tid;
    c.dump = std::move(dump);
    candidates_.insert_or_assign(tid, std::move(c));
  }
}

}  // namespace internal
}  // namespace taskleak
