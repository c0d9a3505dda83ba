#pragma once

// Short texts (keys, small values) read as two 64-bit words with overlapping loads: no loop
// and no library call, which at these sizes cost more than the work on the bytes.

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace monitoring::detail {

/// Every byte of a text of up to 16 bytes: 8-16 bytes as the first and the last 8 (they
/// overlap under 16); 4-7 bytes as the first and the last 4 in `head`; 1-3 bytes as the
/// first, middle and last byte in the low three bytes of `head`. Unused bytes are zero, and
/// under 8 bytes `tail` equals `head`. Texts of equal size are equal exactly when their words
/// are.
struct ShortWords {
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
};

inline ShortWords load_short_words(const void* text, std::size_t size) noexcept {
  const auto* data = static_cast<const unsigned char*>(text);
  ShortWords words;
  if (size >= 8) {
    std::memcpy(&words.head, data, 8);
    std::memcpy(&words.tail, data + size - 8, 8);
    return words;
  }
  if (size >= 4) {
    std::uint32_t first, last;
    std::memcpy(&first, data, 4);
    std::memcpy(&last, data + size - 4, 4);
    words.head = first | (std::uint64_t{last} << 32);
  } else if (size != 0) {
    words.head =
        data[0] | (std::uint64_t{data[size / 2]} << 8) | (std::uint64_t{data[size - 1]} << 16);
  }
  words.tail = words.head;
  return words;
}

}  // namespace monitoring::detail
