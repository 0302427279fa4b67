#include "taskleak/testing/testutil/json_reader.h"

#include <cstdlib>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace taskleak {
namespace internal {
namespace {

// Recursive descent over the text; the first failure is kept.
class Parser {
 public:
  explicit Parser(absl::string_view text) : text_(text) {}

  absl::StatusOr<JsonValue> ParseAll() {
    JsonValue out;
    SkipSpace();
    if (Value(&out, 0)) {
      SkipSpace();
      if (pos_ != text_.size()) Fail("trailing characters");
    }
    if (!error_.empty()) return absl::InvalidArgumentError(error_);
    return out;
  }

 private:
  bool Fail(absl::string_view what) {
    if (error_.empty()) error_ = absl::StrCat(what, " at offset ", pos_);
    return false;
  }
  bool AtDigit() const {
    return pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9';
  }
  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
            text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool Literal(absl::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool Value(JsonValue* out, int depth) {
    if (depth > 64) return Fail("nesting too deep");
    if (pos_ >= text_.size()) return Fail("unexpected end");
    const char c = text_[pos_];
    if (c == '{') return Object(out, depth);
    if (c == '[') return Array(out, depth);
    if (c == '"') {
      out->type = JsonValue::kString;
      return String(&out->string);
    }
    if (c == '-' || AtDigit()) return Number(out);
    if (Literal("true")) {
      out->type = JsonValue::kBool;
      out->boolean = true;
      return true;
    }
    if (Literal("false")) {
      out->type = JsonValue::kBool;
      return true;
    }
    if (Literal("null")) {
      out->type = JsonValue::kNull;
      return true;
    }
    return Fail("unexpected character");
  }

  bool Object(JsonValue* out, int depth) {
    out->type = JsonValue::kObject;
    ++pos_;  // '{'
    SkipSpace();
    if (Consume('}')) return true;
    std::set<std::string> keys;
    for (;;) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') {
        return Fail("expected a key");
      }
      std::string key;
      if (!String(&key)) return false;
      if (!keys.insert(key).second) return Fail("duplicate key " + key);
      SkipSpace();
      if (!Consume(':')) return Fail("expected ':'");
      SkipSpace();
      JsonValue value;
      if (!Value(&value, depth + 1)) return false;
      out->fields.emplace_back(std::move(key), std::move(value));
      SkipSpace();
      if (Consume('}')) return true;
      if (!Consume(',')) return Fail("expected ',' or '}'");
    }
  }

  bool Array(JsonValue* out, int depth) {
    out->type = JsonValue::kArray;
    ++pos_;  // '['
    SkipSpace();
    if (Consume(']')) return true;
    for (;;) {
      SkipSpace();
      JsonValue value;
      if (!Value(&value, depth + 1)) return false;
      out->items.push_back(std::move(value));
      SkipSpace();
      if (Consume(']')) return true;
      if (!Consume(',')) return Fail("expected ',' or ']'");
    }
  }

  static int HexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  // The character an escape stands for after the backslash, or -1.
  static int Unescaped(char e) {
    switch (e) {
      case '"':
      case '\\':
      case '/':
        return e;
      case 'b':
        return '\b';
      case 'f':
        return '\f';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
    }
    return -1;
  }

  bool UnicodeEscape(std::string* out) {
    int code = 0;
    for (int i = 0; i < 4; ++i) {
      const int d = pos_ < text_.size() ? HexDigit(text_[pos_++]) : -1;
      if (d < 0) return Fail("bad \\u escape");
      code = code * 16 + d;
    }
    out->push_back(code < 0x80 ? static_cast<char>(code) : '?');
    return true;
  }

  bool String(std::string* out) {
    ++pos_;  // '"'
    while (pos_ < text_.size()) {
      const unsigned char c = text_[pos_++];
      if (c == '"') return true;
      if (c < 0x20) return Fail("raw control character in a string");
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        continue;
      }
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      if (e == 'u') {
        if (!UnicodeEscape(out)) return false;
        continue;
      }
      const int plain = Unescaped(e);
      if (plain < 0) return Fail("bad escape");
      out->push_back(static_cast<char>(plain));
    }
    return Fail("unterminated string");
  }

  bool Digits() {
    const size_t start = pos_;
    while (AtDigit()) ++pos_;
    return pos_ > start;
  }

  bool Number(JsonValue* out) {
    const size_t start = pos_;
    Consume('-');
    if (Consume('0')) {
      if (AtDigit()) return Fail("leading zero");
    } else if (!Digits()) {
      return Fail("expected digits");
    }
    if (Consume('.') && !Digits()) return Fail("expected fraction digits");
    if (Consume('e') || Consume('E')) {
      if (!Consume('+')) Consume('-');
      if (!Digits()) return Fail("expected exponent digits");
    }
    out->type = JsonValue::kNumber;
    out->number = std::strtod(
        std::string(text_.substr(start, pos_ - start)).c_str(), nullptr);
    return true;
  }

  absl::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

const JsonValue* JsonValue::Get(absl::string_view key) const {
  for (const auto& [k, v] : fields) {
    if (k == key) return &v;
  }
  return nullptr;
}

const char* JsonTypeName(JsonValue::Type type) {
  switch (type) {
    case JsonValue::kNull:
      return "null";
    case JsonValue::kBool:
      return "bool";
    case JsonValue::kNumber:
      return "number";
    case JsonValue::kString:
      return "string";
    case JsonValue::kArray:
      return "array";
    case JsonValue::kObject:
      return "object";
  }
  return "?";
}

absl::StatusOr<JsonValue> ParseJson(absl::string_view text) {
  return Parser(text).ParseAll();
}

}  // namespace internal
}  // namespace taskleak
