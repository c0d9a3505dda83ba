#pragma once

// Helpers shared by the harnesses: a failed property prints what broke and aborts, so
// libFuzzer records the input as a crash.

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace fuzz {

/// Aborts with `what` and `detail` (shown escaped) when `ok` is false.
inline void check(bool ok, std::string_view what, std::string_view detail = {}) {
  if (ok) return;
  std::string shown;
  for (char c : detail) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '\\') {
      shown += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", byte);
      shown += hex;
    }
  }
  std::fprintf(stderr, "\nPROPERTY VIOLATED: %.*s\n  %s\n", static_cast<int>(what.size()),
               what.data(), shown.c_str());
  std::abort();
}

/// Number of (possibly overlapping) occurrences of `needle` in `text`.
inline std::size_t count(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t pos = text.find(needle); pos != std::string_view::npos;
       pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

/// Length of the well-formed UTF-8 sequence starting at text[i] (Unicode Table 3-7), or 0
/// when none starts there. Written from the table, independently of the library's decoders.
inline std::size_t utf8_length_at(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) -> int {
    return k < text.size() ? static_cast<unsigned char>(text[k]) : -1;
  };
  auto in = [](int b, int lo, int hi) { return b >= lo && b <= hi; };
  const int b0 = byte(i);
  if (in(b0, 0x00, 0x7f)) return 1;
  if (in(b0, 0xc2, 0xdf)) return in(byte(i + 1), 0x80, 0xbf) ? 2 : 0;
  int lo = 0x80, hi = 0xbf;
  if (b0 == 0xe0) lo = 0xa0;
  if (b0 == 0xed) hi = 0x9f;
  if (b0 == 0xf0) lo = 0x90;
  if (b0 == 0xf4) hi = 0x8f;
  if (in(b0, 0xe0, 0xef)) return in(byte(i + 1), lo, hi) && in(byte(i + 2), 0x80, 0xbf) ? 3 : 0;
  if (in(b0, 0xf0, 0xf4))
    return in(byte(i + 1), lo, hi) && in(byte(i + 2), 0x80, 0xbf) && in(byte(i + 3), 0x80, 0xbf)
               ? 4
               : 0;
  return 0;
}

inline bool is_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = utf8_length_at(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

}  // namespace fuzz
