#include "taskleak/runtime/internal/emergency/signal_text.h"

#include <signal.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace taskleak {
namespace internal {
namespace emergency {
namespace {

// What `text` writes, read back through a pipe.
std::string Written(SignalText& text) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  text.WriteTo(fds[1]);
  close(fds[1]);
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fds[0]);
  return out;
}

TEST(SignalTextTest, FormatsNumbers) {
  SignalText text;
  text.Dec(0)
      .Add(" ")
      .Dec(-42)
      .Add(" ")
      .Dec(INT64_MIN)
      .Add(" ")
      .Hex(0)
      .Add(" ")
      .Hex(0xdeadbeef);
  EXPECT_EQ(Written(text), "0 -42 -9223372036854775808 0x0 0xdeadbeef");
  EXPECT_EQ(text.size(), 0u);  // emptied by WriteTo
}

TEST(SignalTextTest, NamesTriggers) {
  SignalText text;
  text.Trigger(SIGTERM).Add(",").Trigger(0).Add(",").Trigger(SIGQUIT);
  EXPECT_EQ(Written(text), "SIGTERM,a timeout,SIGQUIT");
}

TEST(SignalTextTest, CutsWhatDoesNotFit) {
  SignalText text;
  const std::string long_text(2000, 'x');
  text.Add(long_text.c_str()).Dec(12345).Add("tail", 4);
  EXPECT_EQ(Written(text), std::string(512, 'x'));
}

}  // namespace
}  // namespace emergency
}  // namespace internal
}  // namespace taskleak
