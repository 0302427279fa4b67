// Text built in fixed memory, for signal handlers: no allocation, no lock.

#ifndef TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_SIGNAL_TEXT_H_
#define TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_SIGNAL_TEXT_H_

#include <cstddef>
#include <cstdint>

namespace taskleak {
namespace internal {
namespace emergency {

// One line (or a few) at a time: append, then WriteTo. Text beyond the
// buffer is cut. Async-signal-safe.
class SignalText {
 public:
  SignalText& Add(const char* s);
  SignalText& Add(const char* s, size_t n);
  SignalText& Dec(int64_t v);
  SignalText& Hex(uint64_t v);  // "0x..."
  // "SIGTERM", "signal N", or for 0, "a timeout": what set a dump off.
  SignalText& Trigger(int signo);
  // Writes the text to `fd` and empties it.
  void WriteTo(int fd);
  size_t size() const { return size_; }

 private:
  char data_[512];
  size_t size_ = 0;
};

}  // namespace emergency
}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_EMERGENCY_SIGNAL_TEXT_H_
