// The logical task registry: the jobs, coroutines and timers that executors
// run on a few threads, tracked like threads so that a leaked one (a job
// still queued, a coroutine never resumed, a timer never cancelled) can be
// found and blamed.
//
// Code that creates a task registers it and keeps the handle for as long as
// the task lives; the leak checker lists what is still alive.
//
//   uint64_t watermark = taskleak::NextTaskId();
//   taskleak::TaskHandle task = taskleak::RegisterTask("timer", "retry");
//   ...                                   // the task is live
//   task.Reset();                         // or let the handle go
//   assert(taskleak::CountTasks(watermark) == 0);
//
// Ids and the watermark. Every task gets a unique id, never reused. Each
// thread takes ids from blocks it reserves, so a thread's tasks get
// increasing ids, but two threads' ids interleave in no particular order.
// NextTaskId() orders them: if it returns W, every task registered before
// the call (registration happens-before it) has an id < W, and every task
// registered after it (the call happens-before the registration) has an id
// >= W. Registrations concurrent with the call may fall on either side. So
// CountTasks(W) and ListTasks(W) count exactly the tasks created after the
// watermark was taken that are still alive.
//
// All functions are thread-safe; none is async-signal-safe.

#ifndef TASKLEAK_RUNTIME_TASK_REGISTRY_H_
#define TASKLEAK_RUNTIME_TASK_REGISTRY_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace taskleak {

namespace internal {
struct TaskRecord;
}  // namespace internal

// Kinds and names are stored in fixed inline buffers, so registering never
// allocates for them. Longer strings are cut to these many bytes (never in
// the middle of a UTF-8 sequence), without any marker.
constexpr size_t kMaxTaskKindLength = 31;
constexpr size_t kMaxTaskNameLength = 63;
// Frames kept of a creation stack, innermost first; deeper frames are lost.
constexpr int kMaxTaskStackDepth = 64;

// How one task is registered.
struct TaskOptions {
  // Record the creation stack (costs about a microsecond).
  bool capture_stack = false;
};

// A snapshot of one live task.
struct TaskInfo {
  // Unique and never reused; increasing in creation order within a thread,
  // and ordered across threads at every NextTaskId() (see the top of this
  // file). Never 0.
  uint64_t id = 0;
  // What sort of task, e.g. "thread_pool_job", "coroutine", "timer".
  std::string kind;
  std::string name;
  // The thread that registered the task.
  pid_t creator_tid = 0;
  // When the task was registered, from the coarse real-time clock
  // (CLOCK_REALTIME_COARSE, a few milliseconds of resolution): it may read
  // slightly earlier than an absl::Now() taken just before registering.
  absl::Time created_at;
  // Lookup addresses (see runtime/symbolizer.h), innermost first, starting at
  // the caller of RegisterTask. Empty unless TaskOptions::capture_stack was
  // set.
  std::vector<uintptr_t> creation_stack;
};

// RAII registration: the task is live from RegisterTask until the handle is
// destroyed or Reset(). Movable, not copyable; a moved-from handle is empty.
// A handle may be reset or destroyed on any thread, not only the one that
// registered the task. Distinct handles may be used concurrently; one
// handle must not be used from two threads at once.
class TaskHandle {
 public:
  // An empty handle: no task.
  TaskHandle() = default;
  TaskHandle(TaskHandle&& other) noexcept : record_(other.record_) {
    other.record_ = nullptr;
  }
  TaskHandle& operator=(TaskHandle&& other) noexcept;
  TaskHandle(const TaskHandle&) = delete;
  TaskHandle& operator=(const TaskHandle&) = delete;
  ~TaskHandle() { Reset(); }

  // Unregisters the task now; afterwards the handle is empty. No-op on an
  // empty handle.
  void Reset();
  // Whether the handle holds a live task.
  bool active() const { return record_ != nullptr; }
  // The task's id, or 0 for an empty handle.
  uint64_t id() const;

 private:
  friend TaskHandle RegisterTask(absl::string_view kind, absl::string_view name,
                                 const TaskOptions& options);
  explicit TaskHandle(internal::TaskRecord* record) : record_(record) {}

  internal::TaskRecord* record_ = nullptr;
};

// Registers a live task. `kind` and `name` are copied into fixed buffers
// (truncated as described at kMaxTaskKindLength); registering allocates
// nothing in the steady state, apart from the stack buffer the first time a
// recycled slot captures a stack. Thread-safe; not async-signal-safe. A
// register+unregister pair costs tens of nanoseconds without a stack.
TaskHandle RegisterTask(absl::string_view kind, absl::string_view name,
                        const TaskOptions& options = {});

// The watermark for "created after": see the top of this file. Cheap (no
// lock); thread-safe; not async-signal-safe.
uint64_t NextTaskId();

// Live tasks with id >= min_id, in id order, copied. Holds each internal
// shard's lock while copying that shard's tasks. Thread-safe.
std::vector<TaskInfo> ListTasks(uint64_t min_id = 0);

// The number of live tasks with id >= min_id. Allocates nothing and copies
// nothing; skips every shard whose newest task is older than min_id without
// locking it, so the common "nothing leaked" check is a few loads per
// thread that ever registered a task. Thread-safe.
int64_t CountTasks(uint64_t min_id = 0);

// Live task counts by kind (kinds as stored, i.e. possibly truncated).
// Thread-safe.
absl::flat_hash_map<std::string, int64_t> CountTasksByKind();

}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_TASK_REGISTRY_H_
