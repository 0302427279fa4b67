#include "taskleak/testing/testutil/json_reader.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace taskleak {
namespace internal {
namespace {

using ::testing::HasSubstr;

TEST(JsonReaderTest, RejectsMalformedText) {
  for (const char* bad :
       {"", "{", "{\"a\":1,}", "[1 2]", "{\"a\":01}", "\"\x01\"", "{\"a\":1}}",
        "nan", "{\"a\":1,\"a\":2}", "[1,]", "{a:1}", "\"\\x\"", "-", "1.",
        "[\"abc]", "1e", "\"\\u12\"", "\"\\"}) {
    absl::StatusOr<JsonValue> json = ParseJson(bad);
    EXPECT_FALSE(json.ok()) << "accepted: " << bad;
    EXPECT_EQ(json.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(JsonReaderTest, SaysWhatIsWrongAndWhere) {
  EXPECT_THAT(std::string(ParseJson("[1,]").status().message()),
              HasSubstr("unexpected character at offset 3"));
  EXPECT_THAT(std::string(ParseJson("{\"a\":1,\"a\":2}").status().message()),
              HasSubstr("duplicate key a"));
  EXPECT_THAT(std::string(ParseJson("{} x").status().message()),
              HasSubstr("trailing characters at offset 3"));
}

TEST(JsonReaderTest, ReadsEveryKindOfValue) {
  absl::StatusOr<JsonValue> json = ParseJson(
      " {\"a\": [1, -2.5e3, true, false, null, "
      "\"\\u0041\\n\\\"\\\\\\/\"], \"b\": {}, \"c\": \"\\u00e9\"} ");
  ASSERT_TRUE(json.ok()) << json.status();
  ASSERT_EQ(json->type, JsonValue::kObject);
  ASSERT_EQ(json->fields.size(), 3u);
  EXPECT_EQ(json->fields[0].first, "a");
  const JsonValue* a = json->Get("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->items.size(), 6u);
  EXPECT_EQ(a->items[0].number, 1);
  EXPECT_EQ(a->items[1].number, -2500);
  EXPECT_TRUE(a->items[2].boolean);
  EXPECT_EQ(a->items[3].type, JsonValue::kBool);
  EXPECT_FALSE(a->items[3].boolean);
  EXPECT_EQ(a->items[4].type, JsonValue::kNull);
  EXPECT_EQ(a->items[5].string, "A\n\"\\/");
  EXPECT_EQ(json->Get("b")->type, JsonValue::kObject);
  EXPECT_TRUE(json->Get("b")->fields.empty());
  EXPECT_EQ(json->Get("c")->string, "?");
  EXPECT_EQ(json->Get("missing"), nullptr);
}

TEST(JsonReaderTest, NamesTypes) {
  EXPECT_STREQ(JsonTypeName(JsonValue::kNull), "null");
  EXPECT_STREQ(JsonTypeName(JsonValue::kNumber), "number");
  EXPECT_STREQ(JsonTypeName(JsonValue::kObject), "object");
}

TEST(JsonReaderTest, RefusesNestingBeyondSixtyFourLevels) {
  EXPECT_TRUE(ParseJson(std::string(64, '[') + std::string(64, ']')).ok());
  EXPECT_THAT(std::string(ParseJson(std::string(66, '[') + std::string(66, ']'))
                              .status()
                              .message()),
              HasSubstr("nesting too deep"));
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
