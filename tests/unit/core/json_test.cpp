#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

#include "core/json_writer.hpp"
#include "support/json_reader.hpp"

namespace {

using monitoring::detail::append_json_escaped;
using monitoring::detail::append_json_number;
using monitoring::detail::json_quote;
using monitoring::detail::JsonWriter;
using monitoring::detail::utf8_prefix_length;

std::string escaped(std::string_view text) {
  std::string out;
  append_json_escaped(out, text);
  return out;
}

const std::string kFffd = "\xEF\xBF\xBD";

TEST(JsonEscape, PlainTextIsCopied) {
  EXPECT_EQ(escaped("hello, world 0123456789 ~!@#$%^&*()"), "hello, world 0123456789 ~!@#$%^&*()");
  EXPECT_EQ(escaped(""), "");
}

TEST(JsonEscape, QuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(escaped("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(escaped("line1\nline2\r\n\ttab"), "line1\\nline2\\r\\n\\ttab");
  EXPECT_EQ(escaped(std::string("\x01\x1f\b\f", 4)), "\\u0001\\u001f\\b\\f");
  EXPECT_EQ(escaped(std::string("nul\0byte", 8)), "nul\\u0000byte");
  EXPECT_EQ(escaped("del\x7f"), "del\\u007f");
  EXPECT_EQ(escaped("\x1b[31mred"), "\\u001b[31mred");
}

TEST(JsonEscape, ValidUtf8IsKept) {
  EXPECT_EQ(escaped("Привет, мир"), "Привет, мир");
  EXPECT_EQ(escaped("€ 100"), "€ 100");
  EXPECT_EQ(escaped("emoji 😀!"), "emoji 😀!");
  EXPECT_EQ(escaped("\xF4\x8F\xBF\xBF"), "\xF4\x8F\xBF\xBF");  // U+10FFFF, the last code point
}

TEST(JsonEscape, LineSeparatorsAreEscapedForJavaScript) {
  EXPECT_EQ(escaped("a\xE2\x80\xA8"
                    "b\xE2\x80\xA9"),
            "a\\u2028b\\u2029");
}

TEST(JsonEscape, InvalidUtf8BecomesReplacementCharacters) {
  // One U+FFFD per maximal invalid subsequence (Unicode §3.9).
  EXPECT_EQ(escaped("a\x80z"), "a" + kFffd + "z");                        // stray continuation
  EXPECT_EQ(escaped("a\xE2\x82"), "a" + kFffd);                           // truncated at the end
  EXPECT_EQ(escaped("a\xE2\x82z"), "a" + kFffd + "z");                    // truncated in the middle
  EXPECT_EQ(escaped("\xC0\xAF"), kFffd + kFffd);                          // overlong '/'
  EXPECT_EQ(escaped("\xED\xA0\x80"), kFffd + kFffd + kFffd);              // surrogate U+D800
  EXPECT_EQ(escaped("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // above U+10FFFF
  EXPECT_EQ(escaped("\xFF\xFE"), kFffd + kFffd);
  EXPECT_EQ(escaped("\xF0\x9F\x98"), kFffd);  // 3 of 4 bytes of an emoji
}

TEST(JsonEscape, AnyBytesGiveAValidJsonString) {
  std::mt19937 random(20240601);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> length(0, 64);
  for (int round = 0; round < 3000; ++round) {
    std::string input(static_cast<std::size_t>(length(random)), '\0');
    for (char& c : input) c = static_cast<char>(byte(random));
    const std::string quoted = json_quote(input);
    test_json::Value value;
    ASSERT_NO_THROW(value = test_json::parse(quoted)) << quoted;
    ASSERT_TRUE(value.is_string());
  }
}

TEST(JsonEscape, ValidTextRoundTrips) {
  const std::string input = std::string("mixed \"quotes\" \\ \n\t\x01 Привет 😀 \xE2\x80\xA8 end");
  EXPECT_EQ(test_json::parse(json_quote(input)).string, input);
}

TEST(JsonEscape, LongInputsUseTheWordPathCorrectly) {
  // Specials at every offset relative to the 8-byte scan.
  for (std::size_t at = 0; at < 24; ++at) {
    std::string input(24, 'x');
    input[at] = '"';
    EXPECT_EQ(test_json::parse(json_quote(input)).string, input) << at;
    input[at] = '\x80';
    std::string expected = input;
    expected.replace(at, 1, kFffd);
    EXPECT_EQ(test_json::parse(json_quote(input)).string, expected) << at;
  }
}

TEST(JsonEscape, ShortInputsWithSpecialsAtEveryOffset) {
  // Plain strings take a whole-string check (two overlapping words under 16 bytes, 16-byte
  // blocks above, the last one overlapping); a special anywhere, the last byte included, must
  // still be escaped.
  for (std::size_t size = 1; size <= 40; ++size) {
    for (std::size_t at = 0; at < size; ++at) {
      for (const char special : {'"', '\\', '\n', '\x7f', '\x01'}) {
        std::string input(size, 'a');
        input[at] = special;
        const std::string quoted = json_quote(input);
        EXPECT_EQ(test_json::parse(quoted).string, input) << size << " " << at;
        EXPECT_EQ(quoted.find('\n'), std::string::npos);
      }
      std::string invalid(size, 'a');
      invalid[at] = '\xff';
      std::string expected = invalid;
      expected.replace(at, 1, kFffd);
      EXPECT_EQ(test_json::parse(json_quote(invalid)).string, expected) << size << " " << at;
    }
  }
}

TEST(JsonNumbers, IntegersAndDoubles) {
  std::string out;
  append_json_number(out, std::numeric_limits<std::int64_t>::min());
  out += ' ';
  append_json_number(out, std::numeric_limits<std::uint64_t>::max());
  out += ' ';
  append_json_number(out, 0.1);
  out += ' ';
  append_json_number(out, 1e300);
  out += ' ';
  append_json_number(out, 1000.0);
  EXPECT_EQ(out, "-9223372036854775808 18446744073709551615 0.1 1e+300 1000");
}

TEST(JsonNumbers, NonFiniteDoublesAreNull) {
  std::string out;
  append_json_number(out, std::nan(""));
  out += ',';
  append_json_number(out, std::numeric_limits<double>::infinity());
  out += ',';
  append_json_number(out, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(out, "null,null,null");
}

TEST(JsonWriter, NestedDocument) {
  std::string out;
  JsonWriter json(out);
  json.begin_object()
      .member("status", "healthy")
      .member("uptime", 12.5)
      .member("count", 3)
      .member("ok", true)
      .key("none")
      .null()
      .key("checks")
      .begin_object()
      .key("db")
      .begin_object()
      .member("latency_ms", std::uint64_t{4})
      .end_object()
      .end_object()
      .key("list")
      .begin_array()
      .value(1)
      .value("two")
      .begin_array()
      .end_array()
      .begin_object()
      .end_object()
      .end_array()
      .key("raw")
      .raw("[1,2]")
      .end_object();
  EXPECT_EQ(out, R"({"status":"healthy","uptime":12.5,"count":3,"ok":true,"none":null,)"
                 R"("checks":{"db":{"latency_ms":4}},"list":[1,"two",[],{}],"raw":[1,2]})");
  const test_json::Value value = test_json::parse(out);
  EXPECT_EQ(value["checks"]["db"]["latency_ms"].number, 4);
}

TEST(JsonWriter, KeysAreEscaped) {
  std::string out;
  JsonWriter(out).begin_object().member("we\"ird\nkey", "v\x80").end_object();
  const test_json::Value value = test_json::parse(out);
  EXPECT_EQ(value["we\"ird\nkey"].string, "v" + kFffd);
}

TEST(Utf8Prefix, CutsOnCharacterBoundaries) {
  const std::string text = "ab€c";  // € is 3 bytes: a b E2 82 AC c
  EXPECT_EQ(utf8_prefix_length(text, 10), text.size());
  EXPECT_EQ(utf8_prefix_length(text, 2), 2u);
  EXPECT_EQ(utf8_prefix_length(text, 3), 2u);
  EXPECT_EQ(utf8_prefix_length(text, 4), 2u);
  EXPECT_EQ(utf8_prefix_length(text, 5), 5u);
  const std::string emoji = "😀😀";
  EXPECT_EQ(utf8_prefix_length(emoji, 7), 4u);
  EXPECT_EQ(utf8_prefix_length(emoji, 4), 4u);
  EXPECT_EQ(utf8_prefix_length("\x80\x80\x80\x80\x80", 3), 3u);  // garbage stays cut as is
}

}  // namespace
