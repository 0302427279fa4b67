#include "taskleak/runtime/timeline.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "taskleak/runtime/frame_format.h"
#include "taskleak/runtime/internal/hidden_from_tsan.h"
#include "taskleak/runtime/internal/interpose/pthread_create_interposer.h"
#include "taskleak/runtime/internal/json_writer.h"
#include "taskleak/runtime/internal/task_end_observer.h"
#include "taskleak/runtime/symbolizer.h"
#include "taskleak/runtime/task_registry.h"
#include "taskleak/runtime/thread_list.h"
#include "taskleak/runtime/thread_origin.h"

namespace taskleak {
namespace {

constexpr uint64_t kOpen = std::numeric_limits<uint64_t>::max();

struct ThreadSpan {
  pid_t tid = 0;
  std::string name;
  absl::Time begin;
  absl::Time end;
  bool still_running = false;
  pid_t creator_tid = 0;
  std::string creator_name;
  std::vector<uintptr_t> creation_stack;
  // Where it was created, when already known (the dump symbolized it).
  std::string created_at;
};

// Fixed size and small (128 bytes): an ended task costs no allocation, and
// touches little new memory.
struct TaskSpan {
  uint64_t id = 0;
  int64_t begin_unix_ns = 0;
  int64_t end_unix_ns = 0;
  pid_t creator_tid = 0;
  bool still_live = false;
  uint8_t label_length = 0;
  char label[kMaxTaskKindLength + 1 + kMaxTaskNameLength];  // "kind name"

  void SetLabel(absl::string_view kind, absl::string_view name) {
    kind = kind.substr(0, kMaxTaskKindLength);
    name = name.substr(0, kMaxTaskNameLength);
    memcpy(label, kind.data(), kind.size());
    label[kind.size()] = ' ';
    memcpy(label + kind.size() + 1, name.data(), name.size());
    label_length = static_cast<uint8_t>(kind.size() + 1 + name.size());
  }
};

static_assert(sizeof(TaskSpan) == 128, "keep ended tasks small");

struct Scope {
  std::string name;
  absl::Time begin;
  absl::Time end = absl::InfiniteFuture();  // still open
  // The task ids registered during the scope: [first_task_id, end_task_id)
  // (see NextTaskId). Ids are exact where the coarse registration clock
  // is not.
  uint64_t first_task_id = 0;
  uint64_t end_task_id = kOpen;
};

// What the observers and scopes record.
struct Recorded {
  // False in a copy that had to leave the rest out (see Copy).
  bool complete = true;
  absl::Time origin;
  std::vector<ThreadSpan> threads;
  int64_t dropped_threads = 0;
  // Reserved in full at the start (address space; pages are touched as
  // tasks end): growing would copy under the lock while a task waits.
  std::vector<TaskSpan> tasks;
  int64_t dropped_tasks = 0;
  std::vector<Scope> scopes;
};

struct Timeline {
  std::atomic<bool> started{false};
  // Taken by ending threads and tasks, always inside a HiddenFromTsan scope.
  std::mutex mu;
  Recorded data;
};

// Never destroyed: threads may end during static destruction.
Timeline& T() {
  static Timeline* const timeline = new Timeline;
  return *timeline;
}

// Runs on the ending thread (see SetThreadEndObserver).
void OnThreadEnd(const internal::CreationRecord& origin) {
  ThreadSpan span;
  span.end = absl::Now();
  char name[16] = {};
  prctl(PR_GET_NAME, name, 0, 0, 0);
  Timeline& t = T();
  std::lock_guard<std::mutex> lock(t.mu);
  if (t.data.threads.size() >= kMaxTimelineThreads) {
    ++t.data.dropped_threads;
    return;
  }
  span.tid = origin.tid;
  span.name = name;
  span.begin = origin.created_at;
  span.creator_tid = origin.creator_tid;
  span.creator_name = origin.creator_name;
  span.creation_stack = origin.creation_stack;
  t.data.threads.push_back(std::move(span));
}

// Runs where a task ends (see SetTaskEndObserver).
void OnTaskEnd(const internal::EndedTask& task) {
  TaskSpan span;
  span.end_unix_ns = absl::GetCurrentTimeNanos();
  span.id = task.id;
  span.creator_tid = task.creator_tid;
  span.begin_unix_ns = task.created_unix_ns;
  span.SetLabel(task.kind, task.name);
  Timeline& t = T();
  std::lock_guard<std::mutex> lock(t.mu);
  if (t.data.tasks.size() >= kMaxTimelineTasks) {
    ++t.data.dropped_tasks;
    return;
  }
  t.data.tasks.push_back(span);
}

int64_t Micros(absl::Time t, absl::Time origin) {
  return std::max<int64_t>(absl::ToInt64Microseconds(t - origin), 0);
}

// The scope open at `t`, or null. Scopes are in time order.
const Scope* ScopeAt(const std::vector<Scope>& scopes, absl::Time t) {
  auto after = std::upper_bound(
      scopes.begin(), scopes.end(), t,
      [](absl::Time t, const Scope& s) { return t < s.begin; });
  if (after == scopes.begin()) return nullptr;
  const Scope& s = *(after - 1);
  return t <= s.end ? &s : nullptr;
}

// The scope the task `id` was registered in, or null. Scopes are in id
// order too.
const Scope* ScopeOfTask(const std::vector<Scope>& scopes, uint64_t id) {
  auto after = std::upper_bound(
      scopes.begin(), scopes.end(), id,
      [](uint64_t id, const Scope& s) { return id < s.first_task_id; });
  if (after == scopes.begin()) return nullptr;
  const Scope& s = *(after - 1);
  return id < s.end_task_id ? &s : nullptr;
}

std::string NameOf(const Scope* s) { return s == nullptr ? "" : s->name; }

// "function at file:line" of the first user frame (the first frame if all
// are library frames), or "".
std::string CreationSite(const std::vector<SymbolizedFrame>& frames) {
  const SymbolizedFrame* site = SiteFrame(frames);
  return site == nullptr ? "" : FormatFrame(*site);
}

// CreationSite of raw stacks, symbolized once per distinct stack.
class CreationSites {
 public:
  const std::string& Of(const std::vector<uintptr_t>& stack) {
    auto [it, inserted] = sites_.try_emplace(stack);
    if (inserted) {
      it->second = CreationSite(DefaultSymbolizer().SymbolizeStack(stack));
    }
    return it->second;
  }

 private:
  std::map<std::vector<uintptr_t>, std::string> sites_;
};

void Metadata(internal::JsonWriter* w, const char* what, pid_t pid, pid_t tid,
              const std::string& name) {
  w->BeginObject();
  w->Field("ph", "M");
  w->Field("name", what);
  w->Field("pid", static_cast<int64_t>(pid));
  w->Field("tid", static_cast<int64_t>(tid));
  w->Key("args");
  w->BeginObject();
  w->Field("name", name);
  w->EndObject();
  w->EndObject();
}

// Ends the open scope now, then runs `then(scopes, now)`, under the lock;
// nothing before StartTimeline.
template <typename F>
void CloseScopeThen(F then) {
  Timeline& t = T();
  if (!t.started.load()) return;
  const absl::Time now = absl::Now();
  internal::HiddenFromTsan hidden;
  // Outside the lock: it touches no timeline state.
  const uint64_t next_task_id = NextTaskId();
  std::lock_guard<std::mutex> lock(t.mu);
  if (!t.data.scopes.empty() &&
      t.data.scopes.back().end == absl::InfiniteFuture()) {
    t.data.scopes.back().end = now;
    t.data.scopes.back().end_task_id = next_task_id;
  }
  then(t.data.scopes, now, next_task_id);
}

// `wait`: false in a forked copy of the process, where the lock may be
// held forever by a thread that is not there.
Recorded Copy(bool wait, absl::Time now) {
  Timeline& t = T();
  Recorded r;
  r.origin = now;
  internal::HiddenFromTsan hidden;
  std::unique_lock<std::mutex> lock(t.mu, std::defer_lock);
  if (wait) {
    lock.lock();
  } else if (!lock.try_lock()) {
    r.complete = false;
    return r;
  }
  r = t.data;
  if (!t.started.load()) r.origin = now;
  return r;
}

// The JSON of `r` plus the threads and tasks still alive at `now`.
std::string Render(Recorded r, std::vector<ThreadSpan> live_threads,
                   std::vector<TaskSpan> live_tasks, absl::Time now) {
  for (ThreadSpan& s : live_threads) r.threads.push_back(std::move(s));
  for (const TaskSpan& s : live_tasks) r.tasks.push_back(s);
  const absl::Time origin = r.origin;
  const pid_t pid = getpid();
  constexpr pid_t kTestsTrack = 0;  // no thread has tid 0
  CreationSites sites;
  internal::JsonWriter w;
  w.BeginObject();
  w.Field("displayTimeUnit", "ms");
  w.Key("otherData");
  w.BeginObject();
  w.Field("threads_not_kept", r.dropped_threads);
  w.Field("tasks_not_kept", r.dropped_tasks);
  if (!r.complete) {
    w.Field("left_out",
            "ended threads, ended tasks and tests: a thread was recording "
            "one when the process was copied for its dump");
  }
  w.EndObject();
  w.Key("traceEvents");
  w.BeginArray();
  Metadata(&w, "process_name", pid, kTestsTrack, "taskleak timeline");
  Metadata(&w, "thread_name", pid, kTestsTrack, "tests");
  for (const Scope& s : r.scopes) {
    const absl::Time end = std::min(s.end, now);
    w.BeginObject();
    w.Field("ph", "X");
    w.Field("cat", "test");
    w.Field("name", s.name);
    w.Field("pid", static_cast<int64_t>(pid));
    w.Field("tid", static_cast<int64_t>(kTestsTrack));
    w.Field("ts", Micros(s.begin, origin));
    w.Field("dur", Micros(end, origin) - Micros(s.begin, origin));
    w.Key("args");
    w.BeginObject();
    w.Field("still running", s.end == absl::InfiniteFuture());
    w.EndObject();
    w.EndObject();
  }
  std::map<pid_t, std::string> track_names;
  for (const ThreadSpan& s : r.threads) {
    track_names[s.tid] = absl::StrCat(s.name, " (", s.tid, ")");
    w.BeginObject();
    w.Field("ph", "X");
    w.Field("cat", "thread");
    w.Field("name", s.name);
    w.Field("pid", static_cast<int64_t>(pid));
    w.Field("tid", static_cast<int64_t>(s.tid));
    w.Field("ts", Micros(s.begin, origin));
    w.Field("dur",
            Micros(std::max(s.end, s.begin), origin) - Micros(s.begin, origin));
    w.Key("args");
    w.BeginObject();
    w.Field("created by",
            s.creator_tid == 0
                ? std::string("(not recorded)")
                : absl::StrCat(s.creator_name, " (", s.creator_tid, ")"));
    w.Field("created in test", NameOf(ScopeAt(r.scopes, s.begin)));
    w.Field("created at", !s.created_at.empty() || s.creation_stack.empty()
                              ? s.created_at
                              : sites.Of(s.creation_stack));
    w.Field("still running", s.still_running);
    w.EndObject();
    w.EndObject();
  }
  for (const auto& [tid, name] : track_names) {
    Metadata(&w, "thread_name", pid, tid, name);
  }
  for (const TaskSpan& task : r.tasks) {
    const Scope* scope = ScopeOfTask(r.scopes, task.id);
    // The registration clock is coarse (a few ms): a task registered in a
    // test may read as created just before the test began.
    const absl::Time end = absl::FromUnixNanos(task.end_unix_ns);
    absl::Time begin = absl::FromUnixNanos(task.begin_unix_ns);
    if (scope != nullptr) begin = std::max(begin, scope->begin);
    begin = std::min(begin, end);
    for (const char* phase : {"b", "e"}) {
      w.BeginObject();
      w.Field("ph", phase);
      w.Field("cat", "task");
      w.Field("name", absl::string_view(task.label, task.label_length));
      w.Field("id", static_cast<int64_t>(task.id));
      w.Field("pid", static_cast<int64_t>(pid));
      w.Field("tid", static_cast<int64_t>(task.creator_tid));
      w.Field("ts", Micros(*phase == 'b' ? begin : end, origin));
      if (*phase == 'b') {
        w.Key("args");
        w.BeginObject();
        w.Field("created in test", NameOf(scope));
        w.Field("still live", task.still_live);
        w.EndObject();
      }
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  return w.str();
}

TaskSpan LiveTask(const TaskInfo& info, absl::Time now) {
  TaskSpan span;
  span.id = info.id;
  span.creator_tid = info.creator_tid;
  span.begin_unix_ns = absl::ToUnixNanos(info.created_at);
  span.end_unix_ns = absl::ToUnixNanos(now);
  span.still_live = true;
  span.SetLabel(info.kind, info.name);
  return span;
}

}  // namespace

void StartTimeline() {
  Timeline& t = T();
  {
    internal::HiddenFromTsan hidden;
    std::lock_guard<std::mutex> lock(t.mu);
    if (t.started.load()) return;
    t.data.origin = absl::Now();
    t.data.tasks.reserve(kMaxTimelineTasks);
    t.started.store(true);
  }
  internal::SetThreadEndObserver(OnThreadEnd);
  internal::SetTaskEndObserver(OnTaskEnd);
}

bool TimelineStarted() { return T().started.load(); }

void BeginTimelineScope(absl::string_view name) {
  CloseScopeThen(
      [&](std::vector<Scope>& scopes, absl::Time now, uint64_t next_task_id) {
        // Bounded like the threads (a --gtest_repeat run can be long).
        if (scopes.size() < kMaxTimelineThreads) {
          Scope scope;
          scope.name = std::string(name);
          scope.begin = now;
          scope.first_task_id = next_task_id;
          scopes.push_back(std::move(scope));
        }
      });
}

void EndTimelineScope() {
  CloseScopeThen([](std::vector<Scope>&, absl::Time, uint64_t) {});
}

std::string TimelineJson() {
  const absl::Time now = absl::Now();
  Recorded recorded = Copy(/*wait=*/true, now);
  std::vector<ThreadSpan> live;
  if (absl::StatusOr<std::vector<ThreadInfo>> threads = ListThreads();
      threads.ok()) {
    for (const ThreadInfo& info : *threads) {
      ThreadSpan span;
      span.tid = info.id.tid;
      span.name = info.name;
      span.begin = info.start_time;
      span.end = now;
      span.still_running = true;
      if (std::shared_ptr<const ThreadOrigin> o = CreationOf(info.id.tid)) {
        span.begin = o->created_at;
        span.creator_tid = o->creator_tid;
        span.creator_name = o->creator_name;
        span.creation_stack = o->creation_stack;
      }
      live.push_back(std::move(span));
    }
  }
  std::vector<TaskSpan> tasks;
  for (const TaskInfo& info : ListTasks()) tasks.push_back(LiveTask(info, now));
  return Render(std::move(recorded), std::move(live), std::move(tasks), now);
}

std::string TimelineJsonAtDump(const ProcessDump& dump) {
  const absl::Time now = dump.taken_at;
  Recorded recorded = Copy(/*wait=*/false, now);
  std::vector<ThreadSpan> live;
  for (const ThreadDump& t : dump.threads) {
    ThreadSpan span;
    span.tid = t.info.id.tid;
    span.name = t.info.name;
    span.begin = t.info.start_time;
    span.end = now;
    span.still_running = true;
    if (!t.created_by.empty()) {
      const ThreadCreator& creator = t.created_by[0];
      span.begin = creator.created_at;
      span.creator_tid = creator.tid;
      span.creator_name = creator.name;
      span.created_at = CreationSite(creator.stack);
    }
    live.push_back(std::move(span));
  }
  std::vector<TaskSpan> tasks;
  for (const TaskDump& t : dump.tasks) tasks.push_back(LiveTask(t.info, now));
  return Render(std::move(recorded), std::move(live), std::move(tasks), now);
}

}  // namespace taskleak
