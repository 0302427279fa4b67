// Tells whether the calling thread is inside the initializer of a
// function-local static, by interposing the C++ ABI's __cxa_guard_acquire /
// release / abort. The initializer runs in its caller's frame, so no stack
// shows it; this is how thread origins recognise lazily started singletons.

#ifndef TASKLEAK_RUNTIME_INTERNAL_INTERPOSE_STATIC_INIT_TRACKER_H_
#define TASKLEAK_RUNTIME_INTERNAL_INTERPOSE_STATIC_INIT_TRACKER_H_

namespace taskleak {
namespace internal {

// Whether the calling thread is running a function-local static's
// initializer right now. Async-signal-safe.
bool InsideStaticInitializer();

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_INTERPOSE_STATIC_INIT_TRACKER_H_
