#include "taskleak/runtime/internal/gzip.h"

#include <string>

#include "gtest/gtest.h"

namespace taskleak {
namespace internal {
namespace {

TEST(GzipTest, Crc32OfTheStandardCheckString) {
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(Crc32(""), 0u);
}

TEST(GzipTest, WrapsInStoredBlocks) {
  const std::string gz = GzipStored("abc");
  // Header (10), one final stored block (5 + 3), CRC and size (8).
  ASSERT_EQ(gz.size(), 26u);
  EXPECT_EQ(gz.substr(0, 3), std::string("\x1f\x8b\x08", 3));
  EXPECT_EQ(gz[10], 1);  // BFINAL, stored
  EXPECT_EQ(gz.substr(15, 3), "abc");
}

TEST(GzipTest, SplitsAt64KiB) {
  const std::string data(65535 * 2 + 1, 'x');
  const std::string gz = GzipStored(data);
  EXPECT_EQ(gz.size(), 10 + 3 * 5 + data.size() + 8);
  EXPECT_EQ(gz[10], 0);  // not final
  EXPECT_EQ(gz[10 + 5 + 65535], 0);
  EXPECT_EQ(gz[10 + 2 * (5 + 65535)], 1);
}

TEST(GzipTest, EmptyInputIsOneEmptyFinalBlock) {
  EXPECT_EQ(GzipStored("").size(), 10u + 5 + 8);
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
