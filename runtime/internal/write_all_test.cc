#include "taskleak/runtime/internal/write_all.h"

#include <unistd.h>

#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace taskleak {
namespace internal {
namespace {

TEST(WriteAllTest, WritesMoreThanAPipeHoldsAtOnce) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  // Four times a default pipe buffer, so that writes come back short.
  std::string sent(256 * 1024, '\0');
  for (size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>(i * 7);
  std::string received;
  std::thread reader([&] {
    char buffer[4096];
    ssize_t n;
    while ((n = read(fds[0], buffer, sizeof(buffer))) > 0) {
      received.append(buffer, static_cast<size_t>(n));
    }
  });
  EXPECT_TRUE(WriteAll(fds[1], sent.data(), sent.size()));
  close(fds[1]);
  reader.join();
  close(fds[0]);
  EXPECT_EQ(received, sent);
}

TEST(WriteAllTest, ReportsAFailedWrite) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  close(fds[1]);
  EXPECT_FALSE(WriteAll(fds[1], "x", 1));
  EXPECT_TRUE(WriteAll(fds[1], "", 0)) << "nothing to write is not a failure";
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
