// Running ordinary code from a signal handler: in a forked copy of the
// process, which the handler waits for until a deadline.

#ifndef TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_FORKED_CHILD_H_
#define TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_FORKED_CHILD_H_

#include <cstdint>

namespace taskleak {
namespace internal {
namespace emergency {

// Forks (without atfork handlers or malloc's locks) and runs `work(arg)`
// in the child, on a fresh 8 MiB stack (a handler may be on a small
// alternate signal stack), where it may allocate and lock; the child dies
// with the parent. Waits until the work is done or CLOCK_MONOTONIC reaches
// `deadline_ns`, then kills the child if it is not done. The child leaves
// through ExitNow (thread_sanitizer.h). Returns nullptr if
// the work was done, else why not (a string literal). Async-signal-safe.
const char* RunInForkedChild(void (*work)(void* arg), void* arg,
                             int64_t deadline_ns);

}  // namespace emergency
}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_FORKED_CHILD_H_
