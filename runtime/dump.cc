#include "taskleak/runtime/dump.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "taskleak/runtime/frame_format.h"
#include "taskleak/runtime/internal/json_writer.h"
#include "taskleak/runtime/thread_origin.h"

namespace taskleak {
namespace {

// Start times derive from a boot time with one-second resolution, so a
// thread can seem to start slightly after `now`: ages never go below zero.
absl::Duration AgeOf(absl::Time since, absl::Time now) {
  return std::max(now - since, absl::ZeroDuration());
}

std::string Age(absl::Time since, absl::Time now) {
  const absl::Duration age = AgeOf(since, now);
  if (age < absl::Milliseconds(1)) return "<1ms";
  return absl::FormatDuration(absl::Trunc(age, absl::Milliseconds(1)));
}

// Where a thread is now: what it waits on matters, library or not.
enum class StackKind { kCurrent, kCreation };

// Appends up to `max_frames` frames, one per line (library runs folded, see
// runtime/frame_format.h), and a note of the rest.
void AppendFrames(const std::vector<SymbolizedFrame>& frames, int max_frames,
                  StackKind kind, absl::string_view indent, std::string* out) {
  for (const std::string& line :
       FrameLines(frames, max_frames, kind == StackKind::kCurrent)) {
    absl::StrAppend(out, indent, line, "\n");
  }
}

std::vector<uintptr_t> PcsOf(const std::vector<SymbolizedFrame>& frames) {
  std::vector<uintptr_t> pcs;
  pcs.reserve(frames.size());
  for (const SymbolizedFrame& f : frames) pcs.push_back(f.pc);
  return pcs;
}

// Numbers stacks so that equal ones get equal ids. Equal lookup addresses
// symbolize to equal frames, so addresses are compared, which costs far
// less than names; and threads that share one symbolized stack
// (SharedFrames) share its id without comparing at all.
class StackIds {
 public:
  int Of(const std::vector<SymbolizedFrame>& frames) {
    auto [it, inserted] = by_storage_.try_emplace(frames.data(), 0);
    if (inserted) {
      it->second =
          by_pcs_.try_emplace(PcsOf(frames), by_pcs_.size()).first->second;
    }
    return it->second;
  }

 private:
  absl::flat_hash_map<const SymbolizedFrame*, int> by_storage_;
  absl::flat_hash_map<std::vector<uintptr_t>, int> by_pcs_;
};

// What makes two threads "alike": the same state, the same whole stack and
// the same creation stack.
struct GroupKey {
  char state = '?';
  // Threads without a stack are never alike: each has its own reason.
  int unavailable_index = -1;
  int stack = -1;
  int creation = -1;
  bool operator==(const GroupKey& o) const {
    return state == o.state && unavailable_index == o.unavailable_index &&
           stack == o.stack && creation == o.creation;
  }
  template <typename H>
  friend H AbslHashValue(H h, const GroupKey& k) {
    return H::combine(std::move(h), k.state, k.unavailable_index, k.stack,
                      k.creation);
  }
};

// Groups of indices into `threads`, in order of first appearance.
std::vector<std::vector<int>> GroupThreads(
    absl::Span<const ThreadDump> threads) {
  absl::flat_hash_map<GroupKey, int> group_of;
  group_of.reserve(threads.size());
  StackIds ids;
  std::vector<std::vector<int>> groups;
  for (int i = 0; i < static_cast<int>(threads.size()); ++i) {
    const ThreadDump& t = threads[i];
    GroupKey key;
    key.state = t.info.state;
    if (t.stack_available) {
      key.stack = ids.Of(t.stack);
    } else {
      key.unavailable_index = i;
    }
    if (!t.created_by.empty()) key.creation = ids.Of(t.created_by[0].stack);
    auto [it, inserted] = group_of.try_emplace(key, groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  return groups;
}

std::string ThreadLabel(const ThreadInfo& info) {
  return absl::StrFormat("%d \"%s\"", info.id.tid, info.name);
}

std::vector<SymbolizedFrame> Symbolize(absl::Span<const uintptr_t> pcs) {
  return DefaultSymbolizer().SymbolizeStack(pcs);
}

void WriteFramesJson(absl::string_view key,
                     const std::vector<SymbolizedFrame>& frames, int max_frames,
                     internal::JsonWriter* w) {
  const int shown = std::min<int>(frames.size(), max_frames);
  w->Key(key);
  w->BeginArray();
  for (int i = 0; i < shown; ++i) {
    const SymbolizedFrame& f = frames[i];
    w->BeginObject();
    w->Field("pc", absl::StrFormat("0x%x", f.pc));
    w->Field("function", f.function);
    w->Field("file", f.file);
    w->Field("line", f.line);
    w->Field("module", f.module);
    w->Field("module_offset", absl::StrFormat("0x%x", f.module_offset));
    w->Field("inlined", f.inlined);
    w->Field("names_only", f.names_only);
    w->EndObject();
  }
  w->EndArray();
  w->Field("frames_omitted", static_cast<int>(frames.size()) - shown);
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

}  // namespace

std::vector<ThreadCreator> CreatorsOf(pid_t tid) {
  std::vector<ThreadCreator> creators;
  for (const std::shared_ptr<const ThreadOrigin>& origin : CreationChain(tid)) {
    creators.push_back(ThreadCreator{
        origin->creator_tid, origin->creator_name, origin->created_at,
        DefaultSymbolizer().SymbolizeShared(origin->creation_stack),
        origin->in_static_initializer});
  }
  return creators;
}

void SetCapturedStack(const ThreadStack& stack, ThreadDump* dump) {
  dump->stack_available = stack.available;
  dump->stack_unavailable_reason = stack.unavailable_reason;
  dump->stack = stack.available ? DefaultSymbolizer().SymbolizeShared(stack.pcs)
                                : SharedFrames();
}

std::vector<ThreadDump> DescribeThreads(absl::Span<const ThreadInfo> threads,
                                        absl::Span<const ThreadStack> stacks) {
  absl::flat_hash_map<pid_t, const ThreadStack*> stack_of;
  for (const ThreadStack& s : stacks) stack_of[s.tid] = &s;
  std::vector<ThreadDump> dumps;
  dumps.reserve(threads.size());
  for (const ThreadInfo& info : threads) {
    ThreadDump dump;
    dump.info = info;
    auto it = stack_of.find(info.id.tid);
    if (it == stack_of.end()) {
      dump.stack_unavailable_reason = "not captured";
    } else {
      SetCapturedStack(*it->second, &dump);
    }
    dump.created_by = CreatorsOf(info.id.tid);
    dumps.push_back(std::move(dump));
  }
  return dumps;
}

absl::StatusOr<std::vector<ThreadDump>> DumpThreads(
    absl::Span<const ThreadInfo> threads, const DumpOptions& options) {
  std::vector<pid_t> tids;
  tids.reserve(threads.size());
  for (const ThreadInfo& t : threads) tids.push_back(t.id.tid);
  absl::StatusOr<std::vector<ThreadStack>> stacks =
      CaptureThreadStacks(tids, options.capture);
  if (!stacks.ok()) return stacks.status();
  return DescribeThreads(threads, *stacks);
}

std::vector<TaskDump> DumpTasks(absl::Span<const TaskInfo> tasks) {
  std::vector<TaskDump> dumps;
  dumps.reserve(tasks.size());
  for (const TaskInfo& task : tasks) {
    dumps.push_back(TaskDump{task, Symbolize(task.creation_stack)});
  }
  return dumps;
}

absl::StatusOr<ProcessDump> DumpProcess(const DumpOptions& options) {
  ProcessDump dump;
  dump.taken_at = absl::Now();
  absl::StatusOr<std::vector<ThreadInfo>> threads = ListThreads();
  if (!threads.ok()) return threads.status();
  absl::StatusOr<std::vector<ThreadDump>> dumps =
      DumpThreads(*threads, options);
  if (!dumps.ok()) return dumps.status();
  dump.threads = *std::move(dumps);
  if (options.include_tasks) dump.tasks = DumpTasks(ListTasks());
  return dump;
}

std::string FormatThreadsText(absl::Span<const ThreadDump> threads,
                              const DumpOptions& options, absl::Time now) {
  std::string out;
  for (const std::vector<int>& group : GroupThreads(threads)) {
    const ThreadDump& t = threads[group[0]];
    if (group.size() == 1) {
      absl::StrAppend(&out, "thread ", ThreadLabel(t.info));
    } else {
      std::vector<std::string> labels;
      for (int i : group) labels.push_back(ThreadLabel(threads[i].info));
      absl::StrAppend(&out, group.size(),
                      " threads like this: ", absl::StrJoin(labels, ", "));
    }
    absl::StrAppend(&out, " (", ThreadStateName(t.info.state), ", age ",
                    Age(t.info.start_time, now), ")\n");
    if (t.stack_available) {
      AppendFrames(t.stack, options.max_frames, StackKind::kCurrent, "    ",
                   &out);
    } else {
      absl::StrAppend(
          &out, "    stack unavailable: ", t.stack_unavailable_reason, "\n");
    }
    // Alike threads were created at the same place, not necessarily by the
    // same thread.
    int other_creators = 0;
    if (!t.created_by.empty()) {
      std::vector<pid_t> creators;
      for (int i : group) {
        if (!threads[i].created_by.empty()) {
          creators.push_back(threads[i].created_by[0].tid);
        }
      }
      std::sort(creators.begin(), creators.end());
      other_creators = static_cast<int>(
          std::unique(creators.begin(), creators.end()) - creators.begin() - 1);
    }
    for (size_t i = 0; i < t.created_by.size(); ++i) {
      const ThreadCreator& c = t.created_by[i];
      absl::StrAppendFormat(
          &out, "  %s by thread %d \"%s\"%s%s, %s ago, at:\n",
          i == 0 ? "created" : "which was created", c.tid, c.name,
          i == 0 && other_creators > 0
              ? absl::StrFormat(" (and %d other thread%s)", other_creators,
                                other_creators == 1 ? "" : "s")
              : "",
          c.in_static_initializer ? " initializing a function-local static"
                                  : "",
          Age(c.created_at, now));
      AppendFrames(c.stack, options.max_frames, StackKind::kCreation, "    ",
                   &out);
    }
    if (t.created_by.empty()) {
      absl::StrAppend(&out, "  created by: not recorded\n");
    }
    out += "\n";
  }
  return out;
}

std::string FormatTasksText(absl::Span<const TaskDump> tasks,
                            const DumpOptions& options, absl::Time now) {
  std::string out;
  for (const TaskDump& task : tasks) {
    absl::StrAppendFormat(&out, "task #%d %s \"%s\" (age %s)\n", task.info.id,
                          task.info.kind, task.info.name,
                          Age(task.info.created_at, now));
    if (task.creation_stack.empty()) {
      absl::StrAppendFormat(&out, "  created by thread %d\n",
                            task.info.creator_tid);
    } else {
      absl::StrAppendFormat(&out, "  created by thread %d at:\n",
                            task.info.creator_tid);
      AppendFrames(task.creation_stack, options.max_frames,
                   StackKind::kCreation, "    ", &out);
    }
    out += "\n";
  }
  return out;
}

std::string FormatDumpText(const ProcessDump& dump,
                           const DumpOptions& options) {
  std::string out = absl::StrFormat(
      "taskleak dump of pid %d at %s: %d threads, %d live tasks\n\n", getpid(),
      Rfc3339(dump.taken_at), dump.threads.size(), dump.tasks.size());
  absl::StrAppend(&out,
                  FormatThreadsText(dump.threads, options, dump.taken_at));
  absl::StrAppend(&out, FormatTasksText(dump.tasks, options, dump.taken_at));
  return out;
}

std::string FormatDumpJson(const ProcessDump& dump,
                           const DumpOptions& options) {
  const absl::Time now = dump.taken_at;
  internal::JsonWriter w;
  w.BeginObject();
  w.Field("taken_at", Rfc3339(now));
  w.Key("threads");
  w.BeginArray();
  for (const std::vector<int>& group : GroupThreads(dump.threads)) {
    const ThreadDump& t = dump.threads[group[0]];
    w.BeginObject();
    w.Field("tid", static_cast<int64_t>(t.info.id.tid));
    w.Field("name", t.info.name);
    w.Field("state", ThreadStateName(t.info.state));
    w.Field("age_s", absl::ToDoubleSeconds(AgeOf(t.info.start_time, now)));
    w.Field("cpu_s", absl::ToDoubleSeconds(t.info.cpu_time));
    w.Field("stack_available", t.stack_available);
    w.Field("stack_unavailable_reason", t.stack_unavailable_reason);
    WriteFramesJson("stack", t.stack, options.max_frames, &w);
    w.Key("created_by");
    w.BeginArray();
    for (const ThreadCreator& c : t.created_by) {
      w.BeginObject();
      w.Field("tid", static_cast<int64_t>(c.tid));
      w.Field("name", c.name);
      w.Field("created_at", Rfc3339(c.created_at));
      w.Field("in_static_initializer", c.in_static_initializer);
      WriteFramesJson("stack", c.stack, options.max_frames, &w);
      w.EndObject();
    }
    w.EndArray();
    w.Field("group_size", static_cast<int>(group.size()));
    w.Key("group");
    w.BeginArray();
    for (int i : group) {
      w.BeginObject();
      w.Field("tid", static_cast<int64_t>(dump.threads[i].info.id.tid));
      w.Field("name", dump.threads[i].info.name);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("tasks");
  w.BeginArray();
  for (const TaskDump& task : dump.tasks) {
    w.BeginObject();
    w.Field("id", static_cast<int64_t>(task.info.id));
    w.Field("kind", task.info.kind);
    w.Field("name", task.info.name);
    w.Field("age_s", absl::ToDoubleSeconds(AgeOf(task.info.created_at, now)));
    w.Field("creator_tid", static_cast<int64_t>(task.info.creator_tid));
    WriteFramesJson("creation_stack", task.creation_stack, options.max_frames,
                    &w);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return w.str();
}

}  // namespace taskleak
