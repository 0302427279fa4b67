#include "taskleak/runtime/internal/json_writer.h"

#include "gtest/gtest.h"

namespace taskleak {
namespace internal {
namespace {

TEST(JsonWriterTest, NestsWithCommas) {
  JsonWriter w;
  w.BeginObject();
  w.Field("a", 1);
  w.Key("list");
  w.BeginArray();
  w.Int(1);
  w.String("x");
  w.BeginObject();
  w.Field("ok", true);
  w.EndObject();
  w.EndArray();
  w.Field("d", 0.5);
  w.EndObject();
  EXPECT_EQ(w.str(), R"({"a":1,"list":[1,"x",{"ok":true}],"d":0.5})");
}

TEST(JsonWriterTest, EscapesStrings) {
  JsonWriter w;
  w.String("q\"b\\n\nt\t\x01");
  EXPECT_EQ(w.str(), R"("q\"b\\n\nt\t\u0001")");
}

// Plain runs around, between and without escapes, and UTF-8 as it is.
TEST(JsonWriterTest, CopiesPlainRunsWhole) {
  JsonWriter w;
  w.BeginArray();
  w.String("");
  w.String("plain");
  w.String("\"starts and ends\"");
  w.String("a\n\n\"b");
  w.String("caf\xc3\xa9 \x1f end");
  w.EndArray();
  EXPECT_EQ(w.str(), R"(["","plain","\"starts and ends\"","a\n\n\"b",)"
                     "\"caf\xc3\xa9 \\u001f end\"]");
}

}  // namespace
}  // namespace internal
}  // namespace taskleak
