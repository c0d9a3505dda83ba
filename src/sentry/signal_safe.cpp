// The breadcrumb log and the scope mirror: lock-free state that event capture and the crash
// handler read (see signal_safe.hpp for the protocol).

#include "sentry/signal_safe.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>

#include "sentry/scope.hpp"

namespace monitoring::sentry::detail {
namespace {

/// Appends `text` escaped while the output stays within `limit` bytes; never cuts an escape
/// or a UTF-8 sequence. False when not all of it fit.
bool append_escaped(std::string& out, std::string_view text, std::size_t limit) {
  // The usual case: nothing to escape and room for all of it.
  if (out.size() + text.size() <= limit && std::none_of(text.begin(), text.end(), [](char c) {
        return c == '\\' || c == '\t' || c == '\n' || c == '\r';
      })) {
    out.append(text);
    return true;
  }
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    // A UTF-8 sequence stays whole; its continuation bytes (0x80..0xBF) never need escaping.
    // A lead byte without them (invalid UTF-8) is a byte of its own.
    std::size_t length = 1;
    if (c >= 0xC0) {
      const std::size_t wanted = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      while (length < wanted && i + length < text.size() &&
             (static_cast<unsigned char>(text[i + length]) & 0xC0) == 0x80)
        ++length;
    }
    const char* escape = nullptr;
    switch (c) {
      case '\\':
        escape = "\\\\";
        break;
      case '\t':
        escape = "\\t";
        break;
      case '\n':
        escape = "\\n";
        break;
      case '\r':
        escape = "\\r";
        break;
      default:
        break;
    }
    const std::size_t width = escape != nullptr ? 2 : length;
    if (out.size() + width > limit) return false;
    if (escape != nullptr)
      out.append(escape, 2);
    else
      out.append(text.data() + i, length);
    i += length;
  }
  return true;
}

constexpr std::size_t kUnlimited = static_cast<std::size_t>(-1);

/// At most `max` bytes of `text`, not ending inside a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

/// Appends "\t" + each field, all or nothing within `limit`.
bool append_fields(std::string& out, std::initializer_list<std::string_view> fields,
                   std::size_t limit) {
  const std::size_t saved = out.size();
  for (std::string_view field : fields) {
    if (out.size() + 1 > limit) {
      out.resize(saved);
      return false;
    }
    out.push_back('\t');
    if (!append_escaped(out, field, limit)) {
      out.resize(saved);
      return false;
    }
  }
  return true;
}

constinit BreadcrumbLog g_breadcrumbs;
constinit SeqlockText g_scope_mirror;

}  // namespace

namespace {

/// Reads the field of `line` that starts at `at` (up to the next unescaped tab) into `out`,
/// unescaped, and moves `at` past it. False when there is no field left.
bool next_field(std::string_view line, std::size_t& at, std::string& out) {
  if (at > line.size()) return false;
  out.clear();
  while (true) {
    std::size_t special = at;
    while (special < line.size() && line[special] != '\t' && line[special] != '\\') ++special;
    if (special == line.size()) {
      out.append(line.substr(at));
      at = line.size() + 1;  // the last field is consumed
      return true;
    }
    out.append(line.substr(at, special - at));
    if (line[special] == '\t') {
      at = special + 1;
      return true;
    }
    if (special + 1 == line.size()) {  // a lone trailing backslash: kept as it is
      out.push_back('\\');
      at = line.size() + 1;
      return true;
    }
    const char next = line[special + 1];
    out.push_back(next == 't' ? '\t' : next == 'n' ? '\n' : next == 'r' ? '\r' : next);
    at = special + 2;
  }
}

void encode_breadcrumb_into(const Breadcrumb& crumb, std::string& out) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(crumb.timestamp.time_since_epoch())
          .count();
  char number[24];
  const auto end = std::to_chars(number, number + sizeof number, micros).ptr;
  out.append(number, static_cast<std::size_t>(end - number));
  out.push_back('\t');
  out.push_back(static_cast<char>('0' + static_cast<int>(crumb.level)));
  // Type and category are short names; the message gets what is left, then whole data pairs.
  append_fields(out, {utf8_prefix(crumb.type, 64), utf8_prefix(crumb.category, 256)}, kUnlimited);
  out.push_back('\t');
  append_escaped(out, crumb.message, kMaxBreadcrumbText);
  for (const auto& [key, value] : crumb.data)
    if (!append_fields(out, {key, value}, kMaxBreadcrumbText)) break;
}

}  // namespace

std::string escape_field(std::string_view text) {
  std::string out;
  append_escaped(out, text, kUnlimited);
  return out;
}

std::vector<std::string> split_escaped(std::string_view line) {
  std::vector<std::string> fields;
  std::size_t at = 0;
  std::string field;
  while (next_field(line, at, field)) fields.push_back(field);
  return fields;
}

std::string encode_breadcrumb(const Breadcrumb& crumb) {
  std::string out;
  encode_breadcrumb_into(crumb, out);
  return out;
}

bool decode_breadcrumb(std::string_view line, Breadcrumb& out) {
  std::size_t at = 0;
  std::string field;
  if (!next_field(line, at, field)) return false;
  long long micros = 0;
  auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), micros);
  if (error != std::errc() || end != field.data() + field.size()) return false;
  if (!next_field(line, at, field) || field.size() != 1 || field[0] < '0' || field[0] > '4')
    return false;
  out.timestamp = std::chrono::system_clock::time_point(std::chrono::microseconds(micros));
  out.level = static_cast<Level>(field[0] - '0');
  if (!next_field(line, at, out.type) || !next_field(line, at, out.category) ||
      !next_field(line, at, out.message))
    return false;
  out.data.clear();
  std::string key;
  while (next_field(line, at, key)) {
    if (!next_field(line, at, field)) return false;  // a key without its value
    out.data.emplace_back(std::move(key), std::move(field));
  }
  return true;
}

std::vector<Breadcrumb> decode_breadcrumbs(std::string_view lines) {
  std::vector<Breadcrumb> out;
  while (!lines.empty()) {
    const std::size_t newline = lines.find('\n');
    const std::string_view line = lines.substr(0, newline);
    lines = newline == std::string_view::npos ? std::string_view() : lines.substr(newline + 1);
    Breadcrumb crumb{.timestamp = {}};  // (no clock read: the record has the time)
    if (decode_breadcrumb(line, crumb)) out.push_back(std::move(crumb));
  }
  return out;
}

void decode_breadcrumbs(const BreadcrumbSnapshot& snapshot, std::vector<Breadcrumb>& out) {
  out.reserve(out.size() + snapshot.records.size());
  std::string text;
  for (const auto& [offset, bytes] : snapshot.records) {
    Breadcrumb crumb{.timestamp = {}};  // (no clock read: the record has the time)
    if (BreadcrumbLog::unpack(snapshot, offset, bytes, text) && decode_breadcrumb(text, crumb))
      out.push_back(std::move(crumb));
  }
}

// --- BreadcrumbLog --------------------------------------------------------------------------

namespace {

// Text bytes are copied into and out of the low 6 bytes of a word with memcpy.
static_assert(std::endian::native == std::endian::little, "the breadcrumb log packs little-endian");

constexpr unsigned kLapShift = 48;
constexpr std::uint64_t kPayloadMask = (std::uint64_t{1} << kLapShift) - 1;

/// A word for log position `position`: its lap in the top 16 bits, 48 bits of payload.
constexpr std::uint64_t tagged(std::uint64_t position, std::uint64_t payload) noexcept {
  return ((position / BreadcrumbLog::kWords) << kLapShift) | (payload & kPayloadMask);
}
constexpr bool tag_matches(std::uint64_t position, std::uint64_t word) noexcept {
  return (word >> kLapShift) == ((position / BreadcrumbLog::kWords) & 0xFFFF);
}

/// Copies the text bytes of `word` (6, or fewer for the record's last word).
void unpack_word(std::uint64_t word, std::size_t count, char* out) noexcept {
  std::memcpy(out, &word, count);  // little-endian, as packed
}

}  // namespace

void BreadcrumbLog::set_limit(std::size_t limit) noexcept {
  limit_.store(std::min(limit, kSlots), std::memory_order_relaxed);
}

void BreadcrumbLog::add(const Breadcrumb& crumb) {
  if (limit() == 0) return;
  thread_local std::string text;  // keeps its capacity: no allocation in steady state
  text.clear();
  encode_breadcrumb_into(crumb, text);
  const std::size_t text_words = (text.size() + kTextBytesPerWord - 1) / kTextBytesPerWord;
  const std::uint64_t ordinal = next_ordinal_.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t start = cursor_.fetch_add(2 + text_words, std::memory_order_relaxed);
  // A reader that sees any of the stores below and then fences sees this reservation too,
  // so it can tell that the words it copied were being overwritten.
  std::atomic_thread_fence(std::memory_order_release);
  words_[start % kWords].store(tagged(start, ordinal), std::memory_order_relaxed);
  words_[(start + 1) % kWords].store(tagged(start + 1, text.size()), std::memory_order_relaxed);
  for (std::size_t k = 0; k < text_words; ++k) {
    // Little-endian: byte i of the 6 in bits 8i..8i+7. A whole 8-byte load where the text is
    // long enough (a byte-wise copy into memory would stall the load that follows it).
    std::uint64_t payload = 0;
    const std::size_t from = k * kTextBytesPerWord;
    if (from + 8 <= text.size()) {
      std::memcpy(&payload, text.data() + from, 8);
      payload &= kPayloadMask;
    } else {
      for (std::size_t i = 0; from + i < text.size() && i < kTextBytesPerWord; ++i)
        payload |= std::uint64_t{static_cast<unsigned char>(text[from + i])} << (8 * i);
    }
    const std::uint64_t position = start + 2 + k;
    words_[position % kWords].store(tagged(position, payload), std::memory_order_relaxed);
  }
  slots_[ordinal % kSlots].store(start + 1, std::memory_order_release);
}

bool BreadcrumbLog::read(std::uint64_t ordinal, char* buffer, std::size_t& length) const noexcept {
  const std::uint64_t at = slots_[ordinal % kSlots].load(std::memory_order_acquire);
  if (at == 0) return false;
  const std::uint64_t start = at - 1;
  // The slot may name an older record (a writer of this ordinal has not published yet).
  if (words_[start % kWords].load(std::memory_order_relaxed) != tagged(start, ordinal))
    return false;
  const std::uint64_t size_word = words_[(start + 1) % kWords].load(std::memory_order_relaxed);
  const std::uint64_t bytes = size_word & kPayloadMask;
  if (!tag_matches(start + 1, size_word) || bytes > kMaxBreadcrumbText) return false;
  const std::size_t text_words =
      static_cast<std::size_t>((bytes + kTextBytesPerWord - 1) / kTextBytesPerWord);
  for (std::size_t k = 0; k < text_words; ++k) {
    const std::uint64_t position = start + 2 + k;
    const std::uint64_t word = words_[position % kWords].load(std::memory_order_relaxed);
    if (!tag_matches(position, word)) return false;
    const std::size_t from = k * kTextBytesPerWord;
    unpack_word(word, std::min<std::size_t>(kTextBytesPerWord, bytes - from), buffer + from);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  // A writer that reserved past start + kWords may have overwritten what was copied.
  if (cursor_.load(std::memory_order_relaxed) - start > kWords) return false;
  length = static_cast<std::size_t>(bytes);
  return true;
}

void BreadcrumbLog::snapshot(BreadcrumbSnapshot& out) const {
  out.limit = limit();
  const std::uint64_t head = next_ordinal_.load(std::memory_order_acquire);
  snapshot_from(out, head > out.limit ? head - out.limit : 0, head,
                [](std::uint64_t) { return true; });
}

void BreadcrumbLog::snapshot_added_since(BreadcrumbSnapshot& out,
                                         const BreadcrumbSnapshot& earlier) const {
  out.limit = limit();
  const std::uint64_t head = next_ordinal_.load(std::memory_order_acquire);
  // A record begun before `earlier` but published after it is in neither snapshot unless
  // this one goes back for it (a capture racing the log backend's breadcrumb).
  std::uint64_t first = std::min(earlier.head, head);
  if (!earlier.unread.empty()) first = std::min(first, earlier.unread.front());
  if (head > kSlots) first = std::max(first, head - kSlots);
  snapshot_from(out, first, head, [&](std::uint64_t ordinal) {
    return ordinal >= earlier.head ||
           std::binary_search(earlier.unread.begin(), earlier.unread.end(), ordinal);
  });
}

template <typename Wanted>
void BreadcrumbLog::snapshot_from(BreadcrumbSnapshot& out, std::uint64_t first, std::uint64_t head,
                                  Wanted wanted) const {
  out.words.clear();
  out.records.clear();
  out.unread.clear();
  out.head = head;
  out.complete = true;
  if (out.limit == 0) return;
  // Where the records start, as published (acquire: their words are written by then).
  std::uint64_t starts[kSlots];
  std::uint64_t lowest = ~std::uint64_t{0};
  for (std::uint64_t ordinal = first; ordinal < head; ++ordinal) {
    const std::uint64_t at =
        wanted(ordinal) ? slots_[ordinal % kSlots].load(std::memory_order_acquire) : 0;
    starts[ordinal - first] = at;
    if (at != 0 && at - 1 < lowest) lowest = at - 1;
  }
  // Every published record ends below the cursor; what lies a ring further back is gone.
  const std::uint64_t end = cursor_.load(std::memory_order_acquire);
  if (lowest != ~std::uint64_t{0}) {
    if (end - lowest > kWords) lowest = end - kWords;
    out.base = lowest;
    out.words.resize(static_cast<std::size_t>(end - lowest));
    for (std::size_t i = 0; i < out.words.size(); ++i)
      out.words[i] = words_[(lowest + i) % kWords].load(std::memory_order_relaxed);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  const std::uint64_t after = cursor_.load(std::memory_order_relaxed);
  out.records.reserve(static_cast<std::size_t>(head - first));
  std::size_t expected = 0;
  for (std::uint64_t ordinal = first; ordinal < head; ++ordinal) {
    if (!wanted(ordinal)) continue;
    ++expected;
    const std::uint64_t at = starts[ordinal - first];
    const std::uint64_t start = at - 1;
    const std::size_t offset = static_cast<std::size_t>(start - lowest);
    // Not published yet, older than the copy, or possibly overwritten while it was copied.
    bool whole = at != 0 && start >= lowest && after - start <= kWords &&
                 offset + 2 <= out.words.size() && out.words[offset] == tagged(start, ordinal);
    std::uint64_t bytes = 0;
    if (whole) {
      const std::uint64_t size_word = out.words[offset + 1];
      bytes = size_word & kPayloadMask;
      whole = tag_matches(start + 1, size_word) && bytes <= kMaxBreadcrumbText &&
              offset + 2 + (bytes + kTextBytesPerWord - 1) / kTextBytesPerWord <= out.words.size();
    }
    if (!whole) {
      out.unread.push_back(ordinal);
      continue;
    }
    // The text words' laps are checked when they are unpacked (background thread).
    out.records.emplace_back(static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(bytes));
  }
  out.complete = out.records.size() == expected;
}

bool BreadcrumbLog::unpack(const BreadcrumbSnapshot& snapshot, std::size_t offset,
                           std::size_t bytes, std::string& text) {
  text.resize(bytes);
  const std::size_t text_words = (bytes + kTextBytesPerWord - 1) / kTextBytesPerWord;
  if (offset + 2 + text_words > snapshot.words.size()) return false;
  for (std::size_t k = 0; k < text_words; ++k) {
    const std::uint64_t word = snapshot.words[offset + 2 + k];
    if (!tag_matches(snapshot.base + offset + 2 + k, word)) return false;
    const std::size_t from = k * kTextBytesPerWord;
    unpack_word(word, std::min(kTextBytesPerWord, bytes - from), text.data() + from);
  }
  return true;
}

void BreadcrumbLog::snapshot(std::string& out) const {
  BreadcrumbSnapshot copy;
  snapshot(copy);
  std::string text;
  for (const auto& [offset, bytes] : copy.records) {
    if (!unpack(copy, offset, bytes, text)) continue;
    out += text;
    out.push_back('\n');
  }
}

void BreadcrumbLog::visit(char* buffer,
                          void (*visit)(void* context, const char* text, std::size_t length),
                          void* context) const noexcept {
  const std::size_t limit = this->limit();
  if (limit == 0) return;
  const std::uint64_t head = next_ordinal_.load(std::memory_order_acquire);
  const std::uint64_t first = head > limit ? head - limit : 0;
  for (std::uint64_t ordinal = first; ordinal < head; ++ordinal) {
    std::size_t length = 0;
    if (read(ordinal, buffer, length)) visit(context, buffer, length);
  }
}

BreadcrumbLog& breadcrumb_log() noexcept {
  return g_breadcrumbs;
}

// --- SeqlockText ------------------------------------------------------------------------------

void SeqlockText::publish(std::string_view text) noexcept {
  text = text.substr(0, kMaxBytes);
  const std::uint64_t sequence = sequence_.load(std::memory_order_relaxed);
  sequence_.store(sequence + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  length_.store(text.size(), std::memory_order_relaxed);
  for (std::size_t k = 0; k * 8 < text.size(); ++k) {
    std::uint64_t word = 0;
    std::memcpy(&word, text.data() + 8 * k, std::min<std::size_t>(8, text.size() - 8 * k));
    words_[k].store(word, std::memory_order_relaxed);
  }
  sequence_.store(sequence + 2, std::memory_order_release);
}

bool SeqlockText::read(std::uint64_t* buffer, std::size_t& length) const noexcept {
  // The writer may be the thread that crashed (then it never finishes): a bounded number of
  // attempts, no waiting.
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const std::uint64_t before = sequence_.load(std::memory_order_acquire);
    if (before & 1) continue;
    const std::size_t bytes =
        std::min<std::size_t>(length_.load(std::memory_order_relaxed), kMaxBytes);
    for (std::size_t k = 0; k * 8 < bytes; ++k)
      buffer[k] = words_[k].load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (sequence_.load(std::memory_order_relaxed) == before) {
      length = bytes;
      return true;
    }
  }
  return false;
}

std::string scope_record_lines(const ScopeData& scope) {
  std::string out;
  const std::size_t limit = SeqlockText::kMaxBytes;
  // One line, all or nothing: "<key> field\tfield...\n".
  auto line = [&](std::string_view key, std::initializer_list<std::string_view> fields) {
    const std::size_t saved = out.size();
    out.append(key);
    out.push_back(' ');
    bool first = true;
    for (std::string_view field : fields) {
      if (!first) out.push_back('\t');
      first = false;
      if (!append_escaped(out, field, limit - 1)) {
        out.resize(saved);
        return;
      }
    }
    if (out.size() + 1 > limit) {
      out.resize(saved);
      return;
    }
    out.push_back('\n');
  };
  if (scope.has_user)
    line("user", {scope.user.id, scope.user.username, scope.user.email, scope.user.ip_address});
  if (!scope.fingerprint.empty()) {
    std::string joined;
    for (const std::string& part : scope.fingerprint) {
      if (!joined.empty()) joined.push_back('\t');
      append_escaped(joined, part, kUnlimited);
    }
    if (out.size() + 12 + joined.size() + 1 <= limit) out += "fingerprint " + joined + "\n";
  }
  for (const auto& [key, value] : scope.tags) line("tag", {key, value});
  for (const auto& [name, values] : scope.contexts) {
    std::string joined;
    append_escaped(joined, name, kUnlimited);
    for (const auto& [key, value] : values) {
      joined.push_back('\t');
      append_escaped(joined, key, kUnlimited);
      joined.push_back('\t');
      append_escaped(joined, value, kUnlimited);
    }
    if (out.size() + 8 + joined.size() + 1 <= limit) out += "context " + joined + "\n";
  }
  for (const auto& [key, value] : scope.extra) line("extra", {key, value});
  return out;
}

SeqlockText& scope_mirror() noexcept {
  return g_scope_mirror;
}

}  // namespace monitoring::sentry::detail
