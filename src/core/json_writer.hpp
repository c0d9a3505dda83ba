#pragma once

// The one JSON writer of the library: log lines, Sentry envelopes and /health bodies all go
// through it, so every producer escapes the same way. Output is always valid JSON whatever
// the input bytes are: invalid UTF-8 becomes U+FFFD, control characters are escaped, and
// non-finite doubles (which JSON cannot represent) become null.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace monitoring::detail {

/// Appends the escaped form of `text` to `out`, without the surrounding quotes.
///
/// `"` and `\` are backslash-escaped; U+0000..U+001F and DEL use the short forms (\n, \t,
/// ...) or \u00XX; U+2028/U+2029 are escaped so the output can be embedded in JavaScript.
/// Each maximal invalid UTF-8 subsequence (Unicode 15 §3.9 "maximal subpart") becomes one
/// U+FFFD, so truncated, overlong, surrogate and out-of-range sequences are all repaired.
void append_json_escaped(std::string& out, std::string_view text);

/// For human-readable output (the console): like append_json_escaped (control characters
/// escaped, invalid UTF-8 repaired) but quotes and backslashes are kept as they are.
void append_sanitized_text(std::string& out, std::string_view text);

/// True when `text` is well-formed UTF-8 (the JSON escapers then repair nothing in it).
bool is_well_formed_utf8(std::string_view text) noexcept;

/// `text` with each maximal ill-formed UTF-8 subsequence replaced by U+FFFD, exactly as the
/// escapers above repair it. Two texts escape to the same JSON string exactly when their
/// repaired forms are equal, so callers that must not write a key twice compare these.
std::string repair_utf8(std::string_view text);

/// Appends `text` as a JSON string literal, quotes included.
inline void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  append_json_escaped(out, text);
  out.push_back('"');
}

/// Appends a JSON number. Doubles use the shortest representation that round-trips;
/// NaN and infinities are written as `null`.
void append_json_number(std::string& out, std::int64_t value);
void append_json_number(std::string& out, std::uint64_t value);
void append_json_number(std::string& out, double value);

/// The largest n <= max_bytes such that text[0, n) does not end inside a UTF-8 sequence
/// that continues past n (used to truncate without splitting a character).
std::size_t utf8_prefix_length(std::string_view text, std::size_t max_bytes) noexcept;

/// `text` as a JSON string literal.
std::string json_quote(std::string_view text);

/// Streams one JSON document into a string, inserting commas and colons.
///
/// The writer does not validate the call sequence beyond what it needs to place commas
/// (keys only inside objects, one value after each key are the caller's job); nesting is
/// limited to 64 levels. Strings are escaped with append_json_escaped.
///
/// ```
/// std::string out;
/// JsonWriter json(out);
/// json.begin_object().member("status", "ok").key("checks").begin_array().end_array().end_object();
/// ```
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) noexcept : out_(out) {}

  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }

  /// An object member's name; the next call writes its value.
  JsonWriter& key(std::string_view name);

  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
  JsonWriter& value(bool flag);
  JsonWriter& value(double number);
  template <std::integral Int>
  requires(!std::same_as<Int, bool>) JsonWriter& value(Int number) {
    before_value();
    if constexpr (std::is_signed_v<Int>)
      append_json_number(out_, static_cast<std::int64_t>(number));
    else
      append_json_number(out_, static_cast<std::uint64_t>(number));
    return *this;
  }
  JsonWriter& null();
  /// Inserts already-serialized JSON as the next value (the caller vouches for it).
  JsonWriter& raw(std::string_view json);

  /// key(name) followed by value(v).
  template <class T>
  JsonWriter& member(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  std::string& output() noexcept { return out_; }

 private:
  JsonWriter& open(char bracket);
  JsonWriter& close(char bracket);
  void before_value();

  std::string& out_;
  std::uint64_t has_members_ = 0;  // bit d: the container at depth d already holds an item
  unsigned depth_ = 0;
  bool after_key_ = false;
};

}  // namespace monitoring::detail
