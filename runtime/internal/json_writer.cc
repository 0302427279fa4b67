#include "taskleak/runtime/internal/json_writer.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace taskleak {
namespace internal {

void JsonWriter::BeforeValue() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!has_value_.empty()) {
    if (has_value_.back()) out_ += ',';
    has_value_.back() = true;
  }
}

void JsonWriter::BeginObject() {
  BeforeValue();
  out_ += '{';
  has_value_.push_back(false);
}

void JsonWriter::EndObject() {
  has_value_.pop_back();
  out_ += '}';
}

void JsonWriter::BeginArray() {
  BeforeValue();
  out_ += '[';
  has_value_.push_back(false);
}

void JsonWriter::EndArray() {
  has_value_.pop_back();
  out_ += ']';
}

void JsonWriter::Key(absl::string_view key) {
  String(key);
  out_ += ':';
  after_key_ = true;
}

void JsonWriter::String(absl::string_view value) {
  BeforeValue();
  out_ += '"';
  for (unsigned char c : value) {
    switch (c) {
      case '"':
        out_ += "\\\"";
        break;
      case '\\':
        out_ += "\\\\";
        break;
      case '\n':
        out_ += "\\n";
        break;
      case '\t':
        out_ += "\\t";
        break;
      case '\r':
        out_ += "\\r";
        break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out_, "\\u%04x", c);
        } else {
          out_ += static_cast<char>(c);
        }
    }
  }
  out_ += '"';
}

void JsonWriter::Int(int64_t value) {
  BeforeValue();
  absl::StrAppend(&out_, value);
}

void JsonWriter::Double(double value) {
  BeforeValue();
  if (std::isfinite(value)) {
    absl::StrAppendFormat(&out_, "%.6g", value);
  } else {
    out_ += "null";
  }
}

void JsonWriter::Bool(bool value) {
  BeforeValue();
  out_ += value ? "true" : "false";
}

void JsonWriter::Raw(absl::string_view json) {
  BeforeValue();
  absl::StrAppend(&out_, json);
}

void JsonWriter::Field(absl::string_view key, absl::string_view value) {
  Key(key);
  String(value);
}
void JsonWriter::Field(absl::string_view key, const char* value) {
  Key(key);
  String(value);
}
void JsonWriter::Field(absl::string_view key, int64_t value) {
  Key(key);
  Int(value);
}
void JsonWriter::Field(absl::string_view key, int value) {
  Key(key);
  Int(value);
}
void JsonWriter::Field(absl::string_view key, double value) {
  Key(key);
  Double(value);
}
void JsonWriter::Field(absl::string_view key, bool value) {
  Key(key);
  Bool(value);
}

}  // namespace internal
}  // namespace taskleak
