// A minimal streaming JSON writer for the dump and report formats: objects,
// arrays, strings (escaped), numbers and booleans, with commas handled.

#ifndef TASKLEAK_RUNTIME_INTERNAL_JSON_WRITER_H_
#define TASKLEAK_RUNTIME_INTERNAL_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace taskleak {
namespace internal {

class JsonWriter {
 public:
  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  // Names the next value inside an object.
  void Key(absl::string_view key);
  void String(absl::string_view value);
  void Int(int64_t value);
  void Double(double value);
  void Bool(bool value);
  // Inserts an already-serialized JSON value.
  void Raw(absl::string_view json);

  // Shorthands for a key followed by its value.
  void Field(absl::string_view key, absl::string_view value);
  void Field(absl::string_view key, const char* value);
  void Field(absl::string_view key, int64_t value);
  void Field(absl::string_view key, int value);
  void Field(absl::string_view key, double value);
  void Field(absl::string_view key, bool value);

  const std::string& str() const { return out_; }

 private:
  void BeforeValue();

  std::string out_;
  // Per open container: whether it already holds a value.
  std::vector<bool> has_value_;
  bool after_key_ = false;
};

}  // namespace internal
}  // namespace taskleak

#endif  // TASKLEAK_RUNTIME_INTERNAL_JSON_WRITER_H_
