#include <charconv>
#include <cmath>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/json_writer.hpp"
#include "core/short_words.hpp"

namespace monitoring::detail {
namespace {

constexpr std::uint64_t kOnes = 0x0101010101010101ull;
constexpr std::uint64_t kHighBits = 0x8080808080808080ull;

// Nonzero when some byte of `word` is zero (the classic SWAR test; exact for "any").
constexpr std::uint64_t has_zero_byte(std::uint64_t word) {
  return (word - kOnes) & ~word & kHighBits;
}

// Nonzero when one of the 8 bytes needs more than a plain copy: a control character
// (< 0x20), '"', '\\', DEL, or any non-ASCII byte (which must be validated as UTF-8).
// Scanning 8 bytes per step keeps plain ASCII text (most log content) near memcpy speed.
constexpr std::uint64_t needs_attention(std::uint64_t word) {
  const std::uint64_t control = (word - kOnes * 0x20) & ~word & kHighBits;
  const std::uint64_t quote = has_zero_byte(word ^ (kOnes * '"'));
  const std::uint64_t backslash = has_zero_byte(word ^ (kOnes * '\\'));
  const std::uint64_t del = has_zero_byte(word ^ (kOnes * 0x7F));
  return control | quote | backslash | del | (word & kHighBits);
}

constexpr bool plain_ascii(unsigned char c) {
  return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
}

constexpr char kHex[] = "0123456789abcdef";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

void append_control(std::string& out, unsigned char c) {
  switch (c) {
    case '"':
      out.append("\\\"");
      return;
    case '\\':
      out.append("\\\\");
      return;
    case '\n':
      out.append("\\n");
      return;
    case '\r':
      out.append("\\r");
      return;
    case '\t':
      out.append("\\t");
      return;
    case '\b':
      out.append("\\b");
      return;
    case '\f':
      out.append("\\f");
      return;
    default: {
      const char escaped[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
      out.append(escaped, 6);
    }
  }
}

// Length of the well-formed UTF-8 sequence at text[i] (2..4), or, when it is ill-formed,
// minus the length of its maximal subpart (>= 1 byte), which becomes one U+FFFD.
// Table 3-7 of the Unicode standard: the second byte's range depends on the lead byte.
int utf8_sequence(const unsigned char* p, std::size_t available) {
  const unsigned char lead = p[0];
  int length;
  unsigned char low = 0x80, high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // no overlongs
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // no overlongs
    if (lead == 0xF4) high = 0x8F;  // nothing above U+10FFFF
  } else {
    return -1;  // stray continuation byte, C0/C1, F5..FF
  }
  for (int k = 1; k < length; ++k) {
    if (static_cast<std::size_t>(k) >= available) return -k;
    const unsigned char c = p[k];
    if (k == 1 ? (c < low || c > high) : (c < 0x80 || c > 0xBF)) return -k;
  }
  return length;
}

// True when no byte of `text` needs escaping or validation. Most keys and values are plain
// ASCII, so this check is the escaper's common path: 16 bytes per step with SSE2 (the last
// block overlapping the one before). Texts under 16 bytes are read as two overlapping words
// into registers: padding them through a stack buffer stalled on store forwarding, which
// made this check a tenth of the logging backend's time.
bool small_is_plain(const unsigned char* data, std::size_t size) {
  if (size == 0) return true;
  ShortWords words = load_short_words(data, size);
  // Under 4 bytes the upper five bytes are unused zeros: make them a plain character.
  if (size < 4) words.head = words.tail = words.head | ((kOnes * 'a') << 24);
  return (needs_attention(words.head) | needs_attention(words.tail)) == 0;
}

#if defined(__SSE2__)
bool block_is_plain(__m128i block) {
  // Signed compare: bytes 0x80..0xFF are negative, so one test finds controls and non-ASCII.
  const __m128i low = _mm_cmplt_epi8(block, _mm_set1_epi8(0x20));
  const __m128i quote = _mm_cmpeq_epi8(block, _mm_set1_epi8('"'));
  const __m128i backslash = _mm_cmpeq_epi8(block, _mm_set1_epi8('\\'));
  const __m128i del = _mm_cmpeq_epi8(block, _mm_set1_epi8(0x7F));
  return _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(low, quote), _mm_or_si128(backslash, del))) ==
         0;
}

bool all_plain_ascii(const unsigned char* data, std::size_t size) {
  if (size < 16) return small_is_plain(data, size);
  bool plain = true;
  std::size_t i = 0;
  for (; i + 16 < size; i += 16)
    plain &= block_is_plain(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i)));
  return plain &
         block_is_plain(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + size - 16)));
}
#else
bool all_plain_ascii(const unsigned char* data, std::size_t size) {
  if (size < 16) return small_is_plain(data, size);
  std::uint64_t attention = 0;
  std::uint64_t word;
  std::size_t i = 0;
  for (; i + 8 < size; i += 8) {
    std::memcpy(&word, data + i, 8);
    attention |= needs_attention(word);
  }
  std::memcpy(&word, data + size - 8, 8);
  return (attention | needs_attention(word)) == 0;
}
#endif

// One scanner for both escapers: `kJson` escapes quotes and backslashes too.
template <bool kJson>
void append_escaped(std::string& out, std::string_view text) {
  const auto* data = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  if (all_plain_ascii(data, size)) {  // most keys and values: one copy
    out.append(text);
    return;
  }
  std::size_t run_start = 0;  // start of the pending run of bytes copied verbatim
  std::size_t i = 0;
  while (i < size) {
    // Fast path: skip whole words of plain ASCII.
    while (i + 8 <= size) {
      std::uint64_t word;
      std::memcpy(&word, data + i, 8);
      if (needs_attention(word)) break;
      i += 8;
    }
    if (i >= size) break;
    const unsigned char c = data[i];
    if (plain_ascii(c) || (!kJson && (c == '"' || c == '\\'))) {
      ++i;
      continue;
    }
    if (c < 0x80) {
      out.append(text.data() + run_start, i - run_start);
      append_control(out, c);
      run_start = ++i;
      continue;
    }
    // Fast path for the common well-formed 2-byte characters (Cyrillic, Latin-1, ...).
    if (c >= 0xC2 && c <= 0xDF && i + 1 < size && (data[i + 1] & 0xC0) == 0x80) {
      i += 2;
      continue;
    }
    const int sequence = utf8_sequence(data + i, size - i);
    if (sequence > 0) {
      // U+2028 / U+2029 are valid JSON but break JavaScript string literals.
      if (kJson && sequence == 3 && c == 0xE2 && data[i + 1] == 0x80 &&
          (data[i + 2] & 0xFE) == 0xA8) {
        out.append(text.data() + run_start, i - run_start);
        out.append(data[i + 2] == 0xA8 ? "\\u2028" : "\\u2029");
        run_start = i += 3;
      } else {
        i += static_cast<std::size_t>(sequence);
      }
      continue;
    }
    out.append(text.data() + run_start, i - run_start);
    out.append(kReplacement);
    run_start = i += static_cast<std::size_t>(-sequence);
  }
  out.append(text.data() + run_start, size - run_start);
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view text) {
  append_escaped<true>(out, text);
}

bool is_well_formed_utf8(std::string_view text) noexcept {
  const auto* data = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t i = 0;
  while (i < text.size()) {
    if (i + 8 <= text.size()) {  // ASCII a word at a time: keys are mostly plain
      std::uint64_t word;
      std::memcpy(&word, data + i, 8);
      if ((word & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    if (data[i] < 0x80) {
      ++i;
      continue;
    }
    const int sequence = utf8_sequence(data + i, text.size() - i);
    if (sequence < 0) return false;
    i += static_cast<std::size_t>(sequence);
  }
  return true;
}

std::string repair_utf8(std::string_view text) {
  const auto* data = reinterpret_cast<const unsigned char*>(text.data());
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (data[i] < 0x80) {
      out.push_back(text[i++]);
      continue;
    }
    const int sequence = utf8_sequence(data + i, text.size() - i);
    if (sequence > 0) {
      out.append(text.substr(i, static_cast<std::size_t>(sequence)));
      i += static_cast<std::size_t>(sequence);
    } else {
      out.append(kReplacement);
      i += static_cast<std::size_t>(-sequence);
    }
  }
  return out;
}

void append_sanitized_text(std::string& out, std::string_view text) {
  append_escaped<false>(out, text);
}

void append_json_number(std::string& out, std::int64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

void append_json_number(std::string& out, std::uint64_t value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

void append_json_number(std::string& out, double value) {
  if (!std::isfinite(value)) {
    out.append("null");
    return;
  }
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

std::size_t utf8_prefix_length(std::string_view text, std::size_t max_bytes) noexcept {
  if (text.size() <= max_bytes) return text.size();
  // Step back over at most 3 continuation bytes to the lead byte of the cut character; keep
  // it only if the whole sequence fits.
  std::size_t cut = max_bytes;
  std::size_t back = 0;
  while (back < 3 && cut > back &&
         (static_cast<unsigned char>(text[cut - back - 1]) & 0xC0) == 0x80)
    ++back;
  if (cut > back) {
    const auto lead = static_cast<unsigned char>(text[cut - back - 1]);
    const std::size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (length > back + 1) return cut - back - 1;  // the character straddles the cut
  }
  return cut;
}

std::string json_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_json_string(out, text);
  return out;
}

JsonWriter& JsonWriter::key(std::string_view name) {
  if (depth_ > 0 && depth_ <= 64) {
    const std::uint64_t bit = std::uint64_t{1} << (depth_ - 1);
    if (has_members_ & bit) out_.push_back(',');
    has_members_ |= bit;
  }
  append_json_string(out_, name);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}

void JsonWriter::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (depth_ > 0 && depth_ <= 64) {
    const std::uint64_t bit = std::uint64_t{1} << (depth_ - 1);
    if (has_members_ & bit) out_.push_back(',');
    has_members_ |= bit;
  }
}

JsonWriter& JsonWriter::open(char bracket) {
  before_value();
  out_.push_back(bracket);
  ++depth_;
  if (depth_ <= 64) has_members_ &= ~(std::uint64_t{1} << (depth_ - 1));
  return *this;
}

JsonWriter& JsonWriter::close(char bracket) {
  out_.push_back(bracket);
  if (depth_ > 0) --depth_;
  after_key_ = false;
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view text) {
  before_value();
  append_json_string(out_, text);
  return *this;
}

JsonWriter& JsonWriter::value(bool flag) {
  before_value();
  out_.append(flag ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::value(double number) {
  before_value();
  append_json_number(out_, number);
  return *this;
}

JsonWriter& JsonWriter::null() {
  before_value();
  out_.append("null");
  return *this;
}

JsonWriter& JsonWriter::raw(std::string_view json) {
  before_value();
  out_.append(json);
  return *this;
}

}  // namespace monitoring::detail
