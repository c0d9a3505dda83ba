#pragma once

// A strict RFC 8259 JSON parser for assertions on /health, /ready and /live bodies: it
// rejects raw control characters, invalid UTF-8, bad escapes, lone surrogates and trailing
// data, so "it parses" means "any JSON consumer can read it".

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace monitoring::testing {

/// One parsed JSON value.
struct Json {
  enum class Type { null, boolean, number, string, array, object };

  Type type = Type::null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;  // document order

  bool has(std::string_view key) const {
    for (const auto& [name, value] : object)
      if (name == key) return true;
    return false;
  }
  const Json& operator[](std::string_view key) const {
    if (type != Type::object)
      throw std::runtime_error("not an object (looking up '" + std::string(key) + "')");
    for (const auto& [name, value] : object)
      if (name == key) return value;
    throw std::runtime_error("no member '" + std::string(key) + "'");
  }
  const Json& operator[](std::size_t index) const {
    if (type != Type::array || index >= array.size()) throw std::runtime_error("no array element");
    return array[index];
  }
  std::vector<std::string> keys() const {
    std::vector<std::string> names;
    for (const auto& member : object) names.push_back(member.first);
    return names;
  }

  static Json parse(std::string_view text) {
    Parser parser{text};
    parser.skip_space();
    Json value = parser.value(0);
    parser.skip_space();
    if (parser.pos != text.size()) parser.fail("trailing data");
    return value;
  }

 private:
  struct Parser {
    std::string_view text;
    std::size_t pos = 0;

    [[noreturn]] void fail(const std::string& why) const {
      throw std::runtime_error("invalid JSON at byte " + std::to_string(pos) + ": " + why);
    }
    void skip_space() {
      while (pos < text.size() &&
             (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' || text[pos] == '\r'))
        ++pos;
    }
    char peek() const { return pos < text.size() ? text[pos] : '\0'; }
    void expect(char c) {
      if (peek() != c) fail(std::string("expected '") + c + "'");
      ++pos;
    }
    void literal(std::string_view word) {
      if (text.substr(pos, word.size()) != word) fail("bad literal");
      pos += word.size();
    }

    Json value(int depth) {
      if (depth > 64) fail("too deep");
      Json out;
      switch (peek()) {
        case '{': {
          out.type = Type::object;
          ++pos;
          skip_space();
          if (peek() == '}') {
            ++pos;
            return out;
          }
          while (true) {
            skip_space();
            if (peek() != '"') fail("expected a member name");
            std::string key = string_literal();
            skip_space();
            expect(':');
            skip_space();
            out.object.emplace_back(std::move(key), value(depth + 1));
            skip_space();
            if (peek() == ',') {
              ++pos;
              continue;
            }
            expect('}');
            return out;
          }
        }
        case '[': {
          out.type = Type::array;
          ++pos;
          skip_space();
          if (peek() == ']') {
            ++pos;
            return out;
          }
          while (true) {
            skip_space();
            out.array.push_back(value(depth + 1));
            skip_space();
            if (peek() == ',') {
              ++pos;
              continue;
            }
            expect(']');
            return out;
          }
        }
        case '"':
          out.type = Type::string;
          out.string = string_literal();
          return out;
        case 't':
          literal("true");
          out.type = Type::boolean;
          out.boolean = true;
          return out;
        case 'f':
          literal("false");
          out.type = Type::boolean;
          return out;
        case 'n':
          literal("null");
          return out;
        default:
          out.type = Type::number;
          out.number = number_literal();
          return out;
      }
    }

    double number_literal() {
      const std::size_t start = pos;
      if (peek() == '-') ++pos;
      if (peek() == '0') {
        ++pos;
      } else if (peek() >= '1' && peek() <= '9') {
        while (peek() >= '0' && peek() <= '9') ++pos;
      } else {
        fail("bad number");
      }
      if (peek() == '.') {
        ++pos;
        if (!(peek() >= '0' && peek() <= '9')) fail("bad fraction");
        while (peek() >= '0' && peek() <= '9') ++pos;
      }
      if (peek() == 'e' || peek() == 'E') {
        ++pos;
        if (peek() == '+' || peek() == '-') ++pos;
        if (!(peek() >= '0' && peek() <= '9')) fail("bad exponent");
        while (peek() >= '0' && peek() <= '9') ++pos;
      }
      return std::stod(std::string(text.substr(start, pos - start)));
    }

    unsigned hex4() {
      if (pos + 4 > text.size()) fail("short \\u escape");
      unsigned value = 0;
      for (int i = 0; i < 4; ++i) {
        const char c = text[pos++];
        value <<= 4;
        if (c >= '0' && c <= '9')
          value |= static_cast<unsigned>(c - '0');
        else if (c >= 'a' && c <= 'f')
          value |= static_cast<unsigned>(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
          value |= static_cast<unsigned>(c - 'A' + 10);
        else
          fail("bad hex digit");
      }
      return value;
    }

    static void append_utf8(std::string& out, std::uint32_t cp) {
      if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
      } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
    }

    // One raw UTF-8 sequence, validated (no overlongs, surrogates or code points > U+10FFFF).
    void utf8_sequence(std::string& out) {
      const auto lead = static_cast<unsigned char>(text[pos]);
      int length = 0;
      std::uint32_t cp = 0;
      if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
        cp = lead & 0x1F;
      } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        cp = lead & 0x0F;
      } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        cp = lead & 0x07;
      } else {
        fail("invalid UTF-8 lead byte");
      }
      if (pos + static_cast<std::size_t>(length) > text.size()) fail("truncated UTF-8");
      for (int i = 1; i < length; ++i) {
        const auto c = static_cast<unsigned char>(text[pos + static_cast<std::size_t>(i)]);
        if ((c & 0xC0) != 0x80) fail("invalid UTF-8 continuation");
        cp = (cp << 6) | (c & 0x3F);
      }
      if ((length == 3 && cp < 0x800) || (length == 4 && cp < 0x10000) || cp > 0x10FFFF ||
          (cp >= 0xD800 && cp <= 0xDFFF))
        fail("invalid UTF-8 code point");
      out.append(text.substr(pos, static_cast<std::size_t>(length)));
      pos += static_cast<std::size_t>(length);
    }

    std::string string_literal() {
      expect('"');
      std::string out;
      while (true) {
        if (pos >= text.size()) fail("unterminated string");
        const auto c = static_cast<unsigned char>(text[pos]);
        if (c == '"') {
          ++pos;
          return out;
        }
        if (c < 0x20) fail("raw control character in string");
        if (c == '\\') {
          ++pos;
          const char e = peek();
          ++pos;
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
              std::uint32_t cp = hex4();
              if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (text.substr(pos, 2) != "\\u") fail("lone high surrogate");
                pos += 2;
                const unsigned low = hex4();
                if (low < 0xDC00 || low > 0xDFFF) fail("bad low surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
              } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail("lone low surrogate");
              }
              append_utf8(out, cp);
              break;
            }
            default:
              fail("bad escape");
          }
          continue;
        }
        if (c < 0x80) {
          out.push_back(static_cast<char>(c));
          ++pos;
        } else {
          utf8_sequence(out);
        }
      }
    }
  };
};

}  // namespace monitoring::testing
