// Flushes a buffer from a background thread every 100 ms. Stop() only asks
// the thread to stop: it notices at its next tick, flushes one last time and
// exits, up to 100 ms after Stop() returned. That is slow, not a leak: the
// leak check's grace window waits for it, and its test passes.

#ifndef TASKLEAK_EXAMPLES_BACKGROUND_FLUSHER_H_
#define TASKLEAK_EXAMPLES_BACKGROUND_FLUSHER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

namespace examples {

class BackgroundFlusher {
 public:
  explicit BackgroundFlusher(std::function<void()> flush);
  // Stop().
  ~BackgroundFlusher();

  // Asks the thread to stop after one last flush; does not wait for it.
  void Stop();

 private:
  struct State {
    std::function<void()> flush;
    std::atomic<bool> stop{false};
  };
  std::shared_ptr<State> state_;
};

}  // namespace examples

#endif  // TASKLEAK_EXAMPLES_BACKGROUND_FLUSHER_H_
