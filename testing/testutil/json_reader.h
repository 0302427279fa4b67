// A strict JSON reader (RFC 8259) for tests that check what taskleak
// writes: it rejects anything that is not exactly one JSON value, such as
// trailing commas, leading zeros, raw control characters in strings and
// duplicate keys.
//
//   absl::StatusOr<JsonValue> json = ParseJson(FormatDumpJson(dump));
//   ASSERT_TRUE(json.ok()) << json.status();
//   const JsonValue* threads = json->Get("threads");
//   ASSERT_NE(threads, nullptr);
//   EXPECT_EQ(threads->type, JsonValue::kArray);

#ifndef TASKLEAK_TESTING_TESTUTIL_JSON_READER_H_
#define TASKLEAK_TESTING_TESTUTIL_JSON_READER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace taskleak {
namespace internal {

// One parsed value; only the members of its type are set.
struct JsonValue {
  enum Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = kNull;
  bool boolean = false;
  double number = 0;
  // \u escapes outside ASCII read as '?': enough for taskleak's output.
  std::string string;
  std::vector<JsonValue> items;
  // In the order written.
  std::vector<std::pair<std::string, JsonValue>> fields;

  // The field named `key` of an object, or null.
  const JsonValue* Get(absl::string_view key) const;
};

// "null", "bool", "number", "string", "array" or "object".
const char* JsonTypeName(JsonValue::Type type);

// Parses all of `text` as one value; InvalidArgument names what is wrong
// and its byte offset.
absl::StatusOr<JsonValue> ParseJson(absl::string_view text);

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_TESTING_TESTUTIL_JSON_READER_H_
