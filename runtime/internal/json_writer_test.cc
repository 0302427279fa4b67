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

}  // namespace
}  // namespace internal
}  // namespace taskleak
