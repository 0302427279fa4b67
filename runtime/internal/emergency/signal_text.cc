#include "taskleak/runtime/internal/emergency/signal_text.h"

#include <string.h>

#include "taskleak/runtime/internal/write_all.h"

namespace taskleak {
namespace internal {
namespace emergency {

SignalText& SignalText::Add(const char* s) {
  while (*s != '\0' && size_ < sizeof(data_)) data_[size_++] = *s++;
  return *this;
}

SignalText& SignalText::Add(const char* s, size_t n) {
  for (size_t i = 0; i < n && size_ < sizeof(data_); ++i) data_[size_++] = s[i];
  return *this;
}

SignalText& SignalText::Dec(int64_t v) {
  char digits[24];
  int n = 0;
  const bool negative = v < 0;
  uint64_t u = negative ? 0 - static_cast<uint64_t>(v) : v;
  do {
    digits[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (negative) Add("-");
  while (n > 0 && size_ < sizeof(data_)) data_[size_++] = digits[--n];
  return *this;
}

SignalText& SignalText::Hex(uint64_t v) {
  char digits[16];
  int n = 0;
  do {
    digits[n++] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v != 0);
  Add("0x");
  while (n > 0 && size_ < sizeof(data_)) data_[size_++] = digits[--n];
  return *this;
}

SignalText& SignalText::Trigger(int signo) {
  const char* abbrev = signo == 0 ? nullptr : sigabbrev_np(signo);
  if (signo == 0) return Add("a timeout");
  if (abbrev != nullptr) return Add("SIG").Add(abbrev);
  return Add("signal ").Dec(signo);
}

void SignalText::WriteTo(int fd) {
  WriteAll(fd, data_, size_);
  size_ = 0;
}

}  // namespace emergency
}  // namespace internal
}  // namespace taskleak
