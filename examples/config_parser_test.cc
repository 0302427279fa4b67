// Built with AddressSanitizer (bazel test --config=asan), the ParseConfig
// test fails on purpose: the overridden entry leaks. examples_test checks
// the report. InPlaceConfigParserTest is the fixed twin, selected with
// --gtest_filter=InPlaceConfigParserTest.*.

#include "examples/config_parser.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace examples {
namespace {

constexpr char kConfig[] =
    "server.port = 8080\n"
    "server.host = localhost\n"
    "# overrides for the test environment\n"
    "server.port = 9090\n"
    "cache.size = 100\n";

TEST(ConfigParserTest, LaterLinesOverrideEarlierOnes) {
  std::unique_ptr<ConfigTree> config = ParseConfig(kConfig);
  ASSERT_NE(config->Find("server", "port"), nullptr);
  EXPECT_EQ(*config->Find("server", "port"), "9090");
  EXPECT_EQ(*config->Find("server", "host"), "localhost");
  EXPECT_EQ(*config->Find("cache", "size"), "100");
}

TEST(InPlaceConfigParserTest, LaterLinesOverrideEarlierOnes) {
  std::unique_ptr<ConfigTree> config = ParseConfigInPlace(kConfig);
  ASSERT_NE(config->Find("server", "port"), nullptr);
  EXPECT_EQ(*config->Find("server", "port"), "9090");
  EXPECT_EQ(*config->Find("server", "host"), "localhost");
  EXPECT_EQ(*config->Find("cache", "size"), "100");
}

}  // namespace
}  // namespace examples
