// Runs a callback after a delay on a detached std::thread. The bug: nothing
// can cancel it, so a retry scheduled 30 s out outlives the object (and the
// test) that scheduled it. Compare cancellable_timer.h.

#ifndef TASKLEAK_EXAMPLES_DETACHED_TIMER_H_
#define TASKLEAK_EXAMPLES_DETACHED_TIMER_H_

#include <chrono>
#include <functional>

namespace examples {

void RunAfter(std::chrono::milliseconds delay, std::function<void()> callback);

}  // namespace examples

#endif  // TASKLEAK_EXAMPLES_DETACHED_TIMER_H_
