#include "taskleak/runtime/internal/emergency/forked_child.h"

#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "taskleak/runtime/internal/monotonic_clock.h"

namespace taskleak {
namespace internal {
namespace emergency {
namespace {

constexpr int64_t kSecond = kNanosPerSecond;

void WriteToPipe(void* arg) {
  const int fd = *static_cast<int*>(arg);
  // The child runs ordinary code: it may allocate.
  const std::string text = std::string("from the child ") + "on its own stack";
  EXPECT_EQ(write(fd, text.data(), text.size()),
            static_cast<ssize_t>(text.size()));
}

TEST(RunInForkedChildTest, RunsTheWorkAndReportsItDone) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  EXPECT_EQ(
      RunInForkedChild(WriteToPipe, &fds[1], MonotonicNanos() + 30 * kSecond),
      nullptr);
  close(fds[1]);
  char buf[128] = {};
  EXPECT_GT(read(fds[0], buf, sizeof(buf) - 1), 0);
  close(fds[0]);
  EXPECT_STREQ(buf, "from the child on its own stack");
}

void Hang(void*) {
  for (;;) pause();
}

TEST(RunInForkedChildTest, GivesUpOnAHungChildAtTheDeadline) {
  const int64_t start = MonotonicNanos();
  const char* why = RunInForkedChild(Hang, nullptr, start + kSecond / 5);
  ASSERT_NE(why, nullptr);
  EXPECT_STREQ(why, "out of time");
  EXPECT_GE(MonotonicNanos() - start, kSecond / 5);
  EXPECT_LT(MonotonicNanos() - start, 20 * kSecond);  // killed, not awaited
}

void ExitEarly(void*) { _exit(3); }

TEST(RunInForkedChildTest, SaysWhenTheChildEndsWithoutFinishing) {
  const char* why =
      RunInForkedChild(ExitEarly, nullptr, MonotonicNanos() + 30 * kSecond);
  ASSERT_NE(why, nullptr);
  EXPECT_STREQ(why, "the reporting process ended early");
}

}  // namespace
}  // namespace emergency
}  // namespace internal
}  // namespace taskleak
