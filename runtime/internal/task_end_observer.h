// The task registry's end hook behind //runtime:timeline's finished tasks:
// the registry calls the observer as each task ends, so that nothing but
// the timeline keeps ended tasks.

#ifndef TASKLEAK_RUNTIME_INTERNAL_TASK_END_OBSERVER_H_
#define TASKLEAK_RUNTIME_INTERNAL_TASK_END_OBSERVER_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/strings/string_view.h"

namespace taskleak {
namespace internal {

// A task as it ends; the views die with the call.
struct EndedTask {
  uint64_t id = 0;
  pid_t creator_tid = 0;
  // Registration time, from the coarse clock (see TaskInfo::created_at).
  int64_t created_unix_ns = 0;
  absl::string_view kind;
  absl::string_view name;
};

// Called on the thread that ends a task (TaskHandle::Reset or its
// destructor), inside a HiddenFromTsan scope, before the record is reused.
// It must not block, nor register or end tasks. Null: nothing is called
// (each end then costs one more atomic load). Thread-safe.
using TaskEndObserver = void (*)(const EndedTask& task);
void SetTaskEndObserver(TaskEndObserver observer);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_TASK_END_OBSERVER_H_
