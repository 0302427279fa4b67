#include "taskleak/runtime/timeline.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
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
#include "taskleak/runtime/symbolizer.h"
#include "taskleak/runtime/task_registry.h"
#include "taskleak/runtime/thread_list.h"
#include "taskleak/runtime/thread_origin.h"

namespace taskleak {
namespace {

struct ThreadSpan {
  pid_t tid = 0;
  std::string name;
  absl::Time begin;
  absl::Time end;
  bool still_running = false;
  pid_t creator_tid = 0;
  std::string creator_name;
  std::vector<uintptr_t> creation_stack;
};

struct Scope {
  std::string name;
  absl::Time begin;
  absl::Time end = absl::InfiniteFuture();  // still open
};

struct Timeline {
  std::atomic<bool> started{false};
  absl::Time origin;
  // Taken by ending threads, always inside a HiddenFromTsan scope.
  std::mutex mu;
  std::vector<ThreadSpan> ended;
  int64_t dropped = 0;
  std::vector<Scope> scopes;
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
  if (t.ended.size() >= kMaxTimelineThreads) {
    ++t.dropped;
    return;
  }
  span.tid = origin.tid;
  span.name = name;
  span.begin = origin.created_at;
  span.creator_tid = origin.creator_tid;
  span.creator_name = origin.creator_name;
  span.creation_stack = origin.creation_stack;
  t.ended.push_back(std::move(span));
}

int64_t Micros(absl::Time t, absl::Time origin) {
  return std::max<int64_t>(absl::ToInt64Microseconds(t - origin), 0);
}

// The scope open at `t`, or "".
std::string ScopeAt(const std::vector<Scope>& scopes, absl::Time t) {
  for (const Scope& s : scopes) {
    if (s.begin <= t && t <= s.end) return s.name;
  }
  return "";
}

// "function at file:line" of the first user frame, cached per stack.
class CreationSites {
 public:
  const std::string& Of(const std::vector<uintptr_t>& stack) {
    auto [it, inserted] = sites_.try_emplace(stack);
    if (inserted) {
      const std::vector<SymbolizedFrame> frames =
          DefaultSymbolizer().SymbolizeStack(stack);
      if (const SymbolizedFrame* site = SiteFrame(frames)) {
        it->second = FormatFrame(*site);
      }
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
  std::lock_guard<std::mutex> lock(t.mu);
  if (!t.scopes.empty() && t.scopes.back().end == absl::InfiniteFuture()) {
    t.scopes.back().end = now;
  }
  then(t.scopes, now);
}

}  // namespace

void StartTimeline() {
  Timeline& t = T();
  {
    internal::HiddenFromTsan hidden;
    std::lock_guard<std::mutex> lock(t.mu);
    if (t.started.load()) return;
    t.origin = absl::Now();
    t.started.store(true);
  }
  internal::SetThreadEndObserver(OnThreadEnd);
}

bool TimelineStarted() { return T().started.load(); }

void BeginTimelineScope(absl::string_view name) {
  CloseScopeThen([&](std::vector<Scope>& scopes, absl::Time now) {
    // Bounded like the threads (a --gtest_repeat run can be long).
    if (scopes.size() < kMaxTimelineThreads) {
      scopes.push_back(Scope{std::string(name), now});
    }
  });
}

void EndTimelineScope() {
  CloseScopeThen([](std::vector<Scope>&, absl::Time) {});
}

std::string TimelineJson() {
  Timeline& t = T();
  const absl::Time now = absl::Now();
  std::vector<ThreadSpan> spans;
  std::vector<Scope> scopes;
  int64_t dropped = 0;
  absl::Time origin = now;
  {
    internal::HiddenFromTsan hidden;
    std::lock_guard<std::mutex> lock(t.mu);
    spans = t.ended;
    scopes = t.scopes;
    dropped = t.dropped;
    if (t.started.load()) origin = t.origin;
  }
  // The threads alive now, up to now.
  if (absl::StatusOr<std::vector<ThreadInfo>> live = ListThreads(); live.ok()) {
    for (const ThreadInfo& info : *live) {
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
      spans.push_back(std::move(span));
    }
  }

  const pid_t pid = getpid();
  constexpr pid_t kTestsTrack = 0;  // no thread has tid 0
  CreationSites sites;
  internal::JsonWriter w;
  w.BeginObject();
  w.Field("displayTimeUnit", "ms");
  w.Key("otherData");
  w.BeginObject();
  w.Field("threads_not_kept", dropped);
  w.EndObject();
  w.Key("traceEvents");
  w.BeginArray();
  Metadata(&w, "process_name", pid, kTestsTrack, "taskleak timeline");
  Metadata(&w, "thread_name", pid, kTestsTrack, "tests");
  for (const Scope& s : scopes) {
    const absl::Time end = std::min(s.end, now);
    w.BeginObject();
    w.Field("ph", "X");
    w.Field("cat", "test");
    w.Field("name", s.name);
    w.Field("pid", static_cast<int64_t>(pid));
    w.Field("tid", static_cast<int64_t>(kTestsTrack));
    w.Field("ts", Micros(s.begin, origin));
    w.Field("dur", Micros(end, origin) - Micros(s.begin, origin));
    w.EndObject();
  }
  std::map<pid_t, std::string> track_names;
  for (const ThreadSpan& s : spans) {
    track_names[s.tid] = absl::StrCat(s.name, " (", s.tid, ")");
    w.BeginObject();
    w.Field("ph", "X");
    w.Field("cat", "thread");
    w.Field("name", s.name);
    w.Field("pid", static_cast<int64_t>(pid));
    w.Field("tid", static_cast<int64_t>(s.tid));
    w.Field("ts", Micros(s.begin, origin));
    w.Field("dur", Micros(s.end, origin) - Micros(s.begin, origin));
    w.Key("args");
    w.BeginObject();
    w.Field("created by",
            s.creator_tid == 0
                ? std::string("(not recorded)")
                : absl::StrCat(s.creator_name, " (", s.creator_tid, ")"));
    w.Field("created in test", ScopeAt(scopes, s.begin));
    w.Field("created at", s.creation_stack.empty()
                              ? std::string()
                              : sites.Of(s.creation_stack));
    w.Field("still running", s.still_running);
    w.EndObject();
    w.EndObject();
  }
  for (const auto& [tid, name] : track_names) {
    Metadata(&w, "thread_name", pid, tid, name);
  }
  for (const TaskInfo& task : ListTasks()) {
    for (const char* phase : {"b", "e"}) {
      w.BeginObject();
      w.Field("ph", phase);
      w.Field("cat", "task");
      w.Field("name", absl::StrCat(task.kind, " ", task.name));
      w.Field("id", static_cast<int64_t>(task.id));
      w.Field("pid", static_cast<int64_t>(pid));
      w.Field("tid", static_cast<int64_t>(task.creator_tid));
      w.Field("ts", Micros(*phase == 'b' ? task.created_at : now, origin));
      if (*phase == 'b') {
        w.Key("args");
        w.BeginObject();
        w.Field("created in test", ScopeAt(scopes, task.created_at));
        w.Field("still live", true);
        w.EndObject();
      }
      w.EndObject();
    }
  }
  w.EndArray();
  w.EndObject();
  return w.str();
}

}  // namespace taskleak
