#pragma once

// The one strict JSON parser of the test suites (RFC 8259): rejects trailing commas, unescaped
// control characters, invalid UTF-8, lone surrogates, leading zeros, trailing garbage. Objects keep
// their key order so tests can check it.

#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace test_json {

struct Value {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  // The destructor is defined after the class: clang instantiates std::pair<std::string,
  // Value> (for `object`) while Value is incomplete otherwise, and libstdc++'s pair then asks
  // for Value's destructor, which needs the complete pair.
  Value() = default;
  Value(const Value&) = default;
  Value(Value&&) noexcept = default;
  Value& operator=(const Value&) = default;
  Value& operator=(Value&&) noexcept = default;
  ~Value();
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string number_text;  // the literal, to compare big integers exactly
  std::string string;
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object;

  bool is_null() const { return type == Type::kNull; }
  bool is_string() const { return type == Type::kString; }
  bool is_number() const { return type == Type::kNumber; }
  bool is_object() const { return type == Type::kObject; }
  bool has(std::string_view key) const { return find(key) != nullptr; }
  const Value* find(std::string_view key) const {
    for (const auto& [k, v] : object)
      if (k == key) return &v;
    return nullptr;
  }
  const Value& operator[](std::string_view key) const {
    const Value* value = find(key);
    if (value == nullptr) throw std::out_of_range("no key " + std::string(key));
    return *value;
  }
  const Value& operator[](std::size_t index) const {
    if (type != Type::kArray || index >= array.size())
      throw std::out_of_range("no array element " + std::to_string(index));
    return array[index];
  }
  std::vector<std::string> keys() const {
    std::vector<std::string> result;
    for (const auto& entry : object) result.push_back(entry.first);
    return result;
  }
};

inline Value::~Value() = default;

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Value parse_document() {
    skip_space();
    Value value = parse_value(0);
    skip_space();
    if (position_ != text_.size()) fail("trailing characters");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("JSON error at " + std::to_string(position_) + ": " + what);
  }
  void skip_space() {
    while (position_ < text_.size() && (text_[position_] == ' ' || text_[position_] == '\t' ||
                                        text_[position_] == '\n' || text_[position_] == '\r'))
      ++position_;
  }
  char peek() const { return position_ < text_.size() ? text_[position_] : '\0'; }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++position_;
  }
  void literal(std::string_view word) {
    if (text_.substr(position_, word.size()) != word) fail("bad literal");
    position_ += word.size();
  }

  Value parse_value(int depth) {
    if (depth > 64) fail("too deep");
    Value value;
    switch (peek()) {
      case '{': {
        value.type = Value::Type::kObject;
        ++position_;
        skip_space();
        if (peek() == '}') {
          ++position_;
          return value;
        }
        while (true) {
          skip_space();
          if (peek() != '"') fail("expected key");
          std::string key = parse_string();
          skip_space();
          expect(':');
          skip_space();
          value.object.emplace_back(std::move(key), parse_value(depth + 1));
          skip_space();
          if (peek() == ',') {
            ++position_;
            continue;
          }
          expect('}');
          return value;
        }
      }
      case '[': {
        value.type = Value::Type::kArray;
        ++position_;
        skip_space();
        if (peek() == ']') {
          ++position_;
          return value;
        }
        while (true) {
          skip_space();
          value.array.push_back(parse_value(depth + 1));
          skip_space();
          if (peek() == ',') {
            ++position_;
            continue;
          }
          expect(']');
          return value;
        }
      }
      case '"':
        value.type = Value::Type::kString;
        value.string = parse_string();
        return value;
      case 't':
        literal("true");
        value.type = Value::Type::kBool;
        value.boolean = true;
        return value;
      case 'f':
        literal("false");
        value.type = Value::Type::kBool;
        return value;
      case 'n':
        literal("null");
        return value;
      default:
        return parse_number();
    }
  }

  Value parse_number() {
    const std::size_t start = position_;
    if (peek() == '-') ++position_;
    if (peek() == '0') {
      ++position_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++position_;
    } else {
      fail("bad value");
    }
    if (peek() == '.') {
      ++position_;
      if (!(peek() >= '0' && peek() <= '9')) fail("bad fraction");
      while (peek() >= '0' && peek() <= '9') ++position_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++position_;
      if (peek() == '+' || peek() == '-') ++position_;
      if (!(peek() >= '0' && peek() <= '9')) fail("bad exponent");
      while (peek() >= '0' && peek() <= '9') ++position_;
    }
    Value value;
    value.type = Value::Type::kNumber;
    value.number_text = std::string(text_.substr(start, position_ - start));
    value.number = std::stod(value.number_text);
    return value;
  }

  unsigned hex4() {
    unsigned code = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = peek();
      ++position_;
      code <<= 4;
      if (c >= '0' && c <= '9')
        code |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        code |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        code |= static_cast<unsigned>(c - 'A' + 10);
      else
        fail("bad \\u escape");
    }
    return code;
  }

  static void put_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
      out.push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (code >> 6)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (code >> 12)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (code >> 18)));
      out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    while (true) {
      if (position_ >= text_.size()) fail("unterminated string");
      const auto c = static_cast<unsigned char>(text_[position_]);
      if (c == '"') {
        ++position_;
        return out;
      }
      if (c < 0x20) fail("unescaped control character");
      if (c == '\\') {
        ++position_;
        const char e = peek();
        ++position_;
        switch (e) {
          case '"':
            out.push_back('"');
            break;
          case '\\':
            out.push_back('\\');
            break;
          case '/':
            out.push_back('/');
            break;
          case 'b':
            out.push_back('\b');
            break;
          case 'f':
            out.push_back('\f');
            break;
          case 'n':
            out.push_back('\n');
            break;
          case 'r':
            out.push_back('\r');
            break;
          case 't':
            out.push_back('\t');
            break;
          case 'u': {
            unsigned code = hex4();
            if (code >= 0xD800 && code <= 0xDBFF) {
              if (peek() != '\\') fail("lone high surrogate");
              ++position_;
              if (peek() != 'u') fail("lone high surrogate");
              ++position_;
              const unsigned low = hex4();
              if (low < 0xDC00 || low > 0xDFFF) fail("bad low surrogate");
              code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            } else if (code >= 0xDC00 && code <= 0xDFFF) {
              fail("lone low surrogate");
            }
            put_utf8(out, code);
            break;
          }
          default:
            fail("bad escape");
        }
        continue;
      }
      if (c < 0x80) {
        out.push_back(static_cast<char>(c));
        ++position_;
        continue;
      }
      // Validate one UTF-8 sequence strictly.
      int length = 0;
      unsigned char low = 0x80, high = 0xBF;
      if (c >= 0xC2 && c <= 0xDF)
        length = 2;
      else if (c >= 0xE0 && c <= 0xEF) {
        length = 3;
        if (c == 0xE0) low = 0xA0;
        if (c == 0xED) high = 0x9F;
      } else if (c >= 0xF0 && c <= 0xF4) {
        length = 4;
        if (c == 0xF0) low = 0x90;
        if (c == 0xF4) high = 0x8F;
      } else {
        fail("invalid UTF-8 lead byte");
      }
      if (position_ + static_cast<std::size_t>(length) > text_.size()) fail("truncated UTF-8");
      for (int k = 1; k < length; ++k) {
        const auto next =
            static_cast<unsigned char>(text_[position_ + static_cast<std::size_t>(k)]);
        if (k == 1 ? (next < low || next > high) : (next < 0x80 || next > 0xBF))
          fail("invalid UTF-8 continuation");
      }
      out.append(text_.substr(position_, static_cast<std::size_t>(length)));
      position_ += static_cast<std::size_t>(length);
    }
  }

  std::string_view text_;
  std::size_t position_ = 0;
};

inline Value parse(std::string_view text) {
  return Parser(text).parse_document();
}

/// Every line of a file (without the newlines).
inline std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

/// Every line of a file, each parsed (throws on an invalid line, naming it).
inline std::vector<Value> read_json_lines(const std::string& path) {
  std::vector<Value> values;
  for (const std::string& line : read_lines(path)) {
    try {
      values.push_back(parse(line));
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string(e.what()) + " in line: " + line.substr(0, 300));
    }
  }
  return values;
}

}  // namespace test_json
