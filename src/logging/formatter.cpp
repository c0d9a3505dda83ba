#include "formatter.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <new>

#include "core/json_writer.hpp"
#include "core/short_words.hpp"

namespace monitoring::logging::detail {

using monitoring::detail::append_json_escaped;
using monitoring::detail::append_json_number;
using monitoring::detail::append_json_string;
using monitoring::detail::append_sanitized_text;
using monitoring::detail::load_short_words;
using monitoring::detail::ShortWords;

namespace {

// ECS level names are lowercase ("log.level": "info").
constexpr std::string_view kJsonLevels[] = {"debug", "info", "warning", "error", "critical", "off"};
constexpr std::string_view kTextLevels[] = {"DEBUG   ", "INFO    ", "WARNING ",
                                            "ERROR   ", "CRITICAL", "OFF     "};
constexpr std::string_view kLevelColors[] = {"\x1b[36m", "\x1b[32m",   "\x1b[33m",
                                             "\x1b[31m", "\x1b[1;31m", ""};
constexpr std::string_view kDim = "\x1b[2m";
constexpr std::string_view kBold = "\x1b[1m";
constexpr std::string_view kReset = "\x1b[0m";

// Keys the formatter writes itself; a context or call-site field with one of these names is
// written as "extra.<name>" so no line ever holds a key twice.
constexpr std::string_view kReservedKeys[] = {
    "@timestamp",          "log.level",     "message",
    "ecs.version",         "log.logger",    "process.pid",
    "process.thread.id",   "service.name",  "service.version",
    "service.environment", "user.id",       "user.name",
    "request_id",          "trace.id",      "span.id",
    "error.type",          "error.message", "error.stack_trace",
    "log.backtrace",
};

constexpr std::size_t kBlockSize = 64u << 10;

// Equality for keys; up to 16 bytes without calling memcmp (the words cover every byte).
bool keys_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.size() > 16) return std::memcmp(a.data(), b.data(), a.size()) == 0;
  const ShortWords x = load_short_words(a.data(), a.size());
  const ShortWords y = load_short_words(b.data(), b.size());
  return ((x.head ^ y.head) | (x.tail ^ y.tail)) == 0;
}

std::uint64_t hash_key(std::string_view key) {
  // Keys over 16 bytes that differ only in the middle collide: fine for a cache.
  const ShortWords words = load_short_words(key.data(), key.size());
  const std::uint64_t mixed = (words.head ^ (words.tail * 0x9E3779B97F4A7C15ull)) + key.size();
  return (mixed * 0xBF58476D1CE4E5B9ull) >> 32;
}

// Gregorian date from days since 1970-01-01 (H. Hinnant's civil_from_days).
void civil_from_days(std::int64_t days, int& year, unsigned& month, unsigned& day) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  day = doy - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0));
}

void put_digits(char* out, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

void append_json_value(std::string& out, const FieldValue& value) {
  switch (value.type()) {
    case FieldValue::Type::kNull:
      out.append("null");
      break;
    case FieldValue::Type::kBool:
      out.append(value.as_bool() ? "true" : "false");
      break;
    case FieldValue::Type::kInt:
      append_json_number(out, value.as_int());
      break;
    case FieldValue::Type::kUint:
      append_json_number(out, value.as_uint());
      break;
    case FieldValue::Type::kDouble:
      append_json_number(out, value.as_double());
      break;
    case FieldValue::Type::kString:
      append_json_string(out, value.as_string());
      break;
  }
}

bool needs_quotes(std::string_view text) {
  if (text.empty()) return true;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= ' ' || byte == 0x7F || c == '=' || c == '"') return true;
  }
  return false;
}

void append_text_value(std::string& out, const FieldValue& value) {
  if (value.type() == FieldValue::Type::kString) {
    const std::string_view text = value.as_string();
    if (needs_quotes(text))
      append_json_string(out, text);
    else
      append_sanitized_text(out, text);
  } else {
    append_json_value(out, value);
  }
}

void append_text_pair(std::string& out, std::string_view key, const FieldValue& value,
                      bool colors) {
  out.push_back(' ');
  if (colors) out.append(kDim);
  append_sanitized_text(out, key);
  out.push_back('=');
  if (colors) out.append(kReset);
  append_text_value(out, value);
}

}  // namespace

// ---- Arena -----------------------------------------------------------------------------

char* Arena::allocate(std::size_t size) {
  while (block_ < blocks_.size()) {
    Block& block = blocks_[block_];
    if (block.size - used_ >= size) {
      char* result = block.data.get() + used_;
      used_ += size;
      return result;
    }
    ++block_;
    used_ = 0;
  }
  const std::size_t block_size = std::max(kBlockSize, size);
  blocks_.push_back(Block{std::make_unique<char[]>(block_size), block_size});
  block_ = blocks_.size() - 1;
  used_ = size;
  return blocks_.back().data.get();
}

std::string_view Arena::store(std::string_view text) {
  char* copy = allocate(text.size());
  std::memcpy(copy, text.data(), text.size());
  return {copy, text.size()};
}

void Arena::reset() noexcept {
  // Oversized blocks from a huge record are dropped; the first standard ones are kept.
  while (blocks_.size() > 4 || (!blocks_.empty() && blocks_.back().size > kBlockSize))
    blocks_.pop_back();
  block_ = 0;
  used_ = 0;
}

// ---- KeyCache --------------------------------------------------------------------------

bool KeyCache::sensitive(std::string_view key, const Scrubber& scrubber) {
  if (key.size() > 64) return scrubber.is_sensitive_key(key);
  std::size_t index = hash_key(key) & (kSlots - 1);
  while (true) {
    Slot& slot = slots_[index];
    if (slot.state == 0) break;
    if (keys_equal(slot.key, key)) return slot.state == 2;
    index = (index + 1) & (kSlots - 1);
  }
  const bool result = scrubber.is_sensitive_key(key);
  if (used_ >= kSlots / 2) {
    clear();  // many distinct keys: start over rather than probe long chains
    index = hash_key(key) & (kSlots - 1);
  }
  slots_[index].key.assign(key);
  slots_[index].state = result ? 2 : 1;
  ++used_;
  return result;
}

void KeyCache::clear() noexcept {
  for (Slot& slot : slots_) slot.state = 0;
  used_ = 0;
}

// ---- Formatter -------------------------------------------------------------------------

Formatter::Formatter(const LoggingOptions& options)
    : options_(options), scrubber_(Scrubber::shared()), pid_text_(std::to_string(::getpid())) {
  candidates_.reserve(64);
  fields_.reserve(64);
  scratch_.reserve(1024);
}

void Formatter::refresh_scrubber() {
  std::shared_ptr<const Scrubber> current = Scrubber::shared();
  if (current == scrubber_) return;
  scrubber_ = std::move(current);
  keys_.clear();  // the key rules may differ
}

void Formatter::format_timestamp(std::int64_t unix_ns) {
  std::int64_t seconds = unix_ns / 1'000'000'000;
  std::int64_t nanos = unix_ns % 1'000'000'000;
  if (nanos < 0) {
    nanos += 1'000'000'000;
    --seconds;
  }
  if (seconds != cached_second_) {
    cached_second_ = seconds;
    std::int64_t days = seconds / 86400;
    std::int64_t second_of_day = seconds % 86400;
    if (second_of_day < 0) {
      second_of_day += 86400;
      --days;
    }
    int year;
    unsigned month, day;
    civil_from_days(days, year, month, day);
    put_digits(timestamp_, static_cast<unsigned>(std::clamp(year, 0, 9999)), 4);
    timestamp_[4] = '-';
    put_digits(timestamp_ + 5, month, 2);
    timestamp_[7] = '-';
    put_digits(timestamp_ + 8, day, 2);
    timestamp_[10] = 'T';
    put_digits(timestamp_ + 11, static_cast<unsigned>(second_of_day / 3600), 2);
    timestamp_[13] = ':';
    put_digits(timestamp_ + 14, static_cast<unsigned>(second_of_day / 60 % 60), 2);
    timestamp_[16] = ':';
    put_digits(timestamp_ + 17, static_cast<unsigned>(second_of_day % 60), 2);
    timestamp_[19] = '.';
    timestamp_[26] = 'Z';
  }
  put_digits(timestamp_ + 20, static_cast<unsigned>(nanos / 1000), 6);
  view_.timestamp_text = std::string_view(timestamp_, 27);
  view_.timestamp = std::chrono::system_clock::time_point(
      std::chrono::microseconds(seconds * 1'000'000 + nanos / 1000));
}

std::string_view Formatter::clean_string(std::string_view text, std::uint32_t original) {
  // `text` is what the caller's thread stored: all of it, or max_field_bytes plus a little
  // slack (so a secret across the cut is still recognized), or less when the record had to
  // be shrunk to fit the queue. Scrub first, then cut.
  const bool cut_by_producer = original > text.size();
  if (options_.scrub && scrubber_->scrub(text, scratch_)) text = arena_.store(scratch_);
  const std::size_t limit = options_.max_field_bytes;
  if (text.size() <= limit && !cut_by_producer) return text;
  const std::size_t keep =
      monitoring::detail::utf8_prefix_length(text, std::min(limit, text.size()));
  char marker[64];
  const int marker_size =
      std::snprintf(marker, sizeof marker, "...[truncated, %u bytes]", original);
  char* out = arena_.allocate(keep + static_cast<std::size_t>(marker_size));
  std::memcpy(out, text.data(), keep);
  std::memcpy(out + keep, marker, static_cast<std::size_t>(marker_size));
  return {out, keep + static_cast<std::size_t>(marker_size)};
}

void Formatter::clean_value(std::string_view key, const FieldValue& value, std::uint32_t original,
                            FieldValue* out) {
  // Constructed in place for the same reason as the candidates (see prepare).
  if (options_.scrub && keys_.sensitive(key, *scrubber_)) {
    ::new (out) FieldValue(Scrubber::kFiltered);
    return;
  }
  switch (value.type()) {
    case FieldValue::Type::kNull:
      ::new (out) FieldValue();
      return;
    case FieldValue::Type::kString:
      ::new (out) FieldValue(clean_string(value.as_string(), original));
      return;
    case FieldValue::Type::kBool:
      ::new (out) FieldValue(value.as_bool());
      return;
    case FieldValue::Type::kInt: {
      const std::int64_t number = value.as_int();
      const std::uint64_t magnitude =
          number < 0 ? ~static_cast<std::uint64_t>(number) + 1 : static_cast<std::uint64_t>(number);
      if (options_.scrub && scrubber_->is_card_number(magnitude))
        ::new (out) FieldValue(Scrubber::kFiltered);
      else
        ::new (out) FieldValue(number);
      return;
    }
    case FieldValue::Type::kUint:
      if (options_.scrub && scrubber_->is_card_number(value.as_uint()))
        ::new (out) FieldValue(Scrubber::kFiltered);
      else
        ::new (out) FieldValue(value.as_uint());
      return;
    case FieldValue::Type::kDouble:
      ::new (out) FieldValue(value.as_double());
      return;
  }
}

// The reserved keys by length, so a call-site key is compared only with those of its size.
struct ReservedByLength {
  static constexpr std::size_t kMaxLength = 32;
  std::array<std::array<std::uint8_t, 4>, kMaxLength> index{};  // into kReservedKeys
  std::array<std::uint8_t, kMaxLength> count{};
};
constexpr ReservedByLength kReservedByLength = [] {
  ReservedByLength table;
  for (std::size_t i = 0; i < std::size(kReservedKeys); ++i) {
    const std::size_t length = kReservedKeys[i].size();
    table.index[length][table.count[length]++] = static_cast<std::uint8_t>(i);
  }
  return table;
}();

std::string_view Formatter::clean_key(std::string_view key) {
  // Repaired first, as the JSON writer would repair it: keys that differ only in ill-formed
  // bytes then compare equal, and the line never holds the same key twice.
  if (!monitoring::detail::is_well_formed_utf8(key)) {
    const std::string repaired = monitoring::detail::repair_utf8(key);
    char* out = arena_.allocate(repaired.size());
    std::memcpy(out, repaired.data(), repaired.size());
    key = {out, repaired.size()};
  }
  if (key.size() >= ReservedByLength::kMaxLength) return key;
  const std::size_t candidates = kReservedByLength.count[key.size()];
  for (std::size_t i = 0; i < candidates; ++i) {
    if (keys_equal(key, kReservedKeys[kReservedByLength.index[key.size()][i]])) {
      char* out = arena_.allocate(6 + key.size());
      std::memcpy(out, "extra.", 6);
      std::memcpy(out + 6, key.data(), key.size());
      return {out, 6 + key.size()};
    }
  }
  return key;
}

const RecordView& Formatter::prepare(const std::byte* record,
                                     const monitoring::detail::ContextData* context,
                                     std::uint64_t thread_id, std::int64_t unix_ns) {
  const auto header = load_unaligned<LogHeader>(record);
  arena_.reset();
  candidates_.clear();
  fields_.clear();
  view_ = RecordView{};
  view_.level = static_cast<Level>(header.chunk.level);
  view_.thread_id = thread_id;
  format_timestamp(unix_ns);

  const LoggerState* logger = header.logger;
  view_.logger = logger->name;
  view_.service_name = logger->service_name.empty() ? options_.service_name : logger->service_name;
  view_.service_version =
      logger->service_version.empty() ? options_.service_version : logger->service_version;
  view_.service_environment = logger->service_environment.empty() ? options_.service_environment
                                                                  : logger->service_environment;

  // Merge order: logger context, thread context, call site (later wins on equal keys).
  for (const OwnedField& field : logger->fields) {
    const FieldValue value = field.value.view();
    candidates_.push_back(
        Candidate{field.key, value,
                  static_cast<std::uint32_t>(
                      value.type() == FieldValue::Type::kString ? value.as_string().size() : 0)});
  }
  if (context != nullptr) {
    view_.has_user = context->has_user;
    view_.user_id = context->user_id;
    view_.user_name = context->user_name;
    view_.request_id = context->request_id;
    view_.trace_id = context->trace_id;
    view_.span_id = context->span_id;
    for (const OwnedField& field : context->fields) {
      const FieldValue value = field.value.view();
      candidates_.push_back(
          Candidate{field.key, value,
                    static_cast<std::uint32_t>(
                        value.type() == FieldValue::Type::kString ? value.as_string().size() : 0)});
    }
  }

  const std::byte* p = record + sizeof(LogHeader);
  // A static call site's record points to the site for its message and keys (kFlagStatic).
  const StaticSite* site = nullptr;
  std::string_view message;
  std::uint32_t message_original;
  if (header.chunk.flags & kFlagStatic) {
    site = reinterpret_cast<const StaticSite*>(
        load_unaligned<std::uintptr_t>(record + offsetof(LogHeader, message_stored)));
    message = site->message;
    message_original = static_cast<std::uint32_t>(message.size());
  } else {
    message = std::string_view(reinterpret_cast<const char*>(p), header.message_stored);
    message_original = header.message_original;
    p += header.message_stored;
  }
  for (std::uint32_t i = 0; i < header.field_count; ++i) {
    std::string_view key;
    FieldHeader field{};
    if (site != nullptr) {
      key = site->keys[i];
      field.type = static_cast<std::uint8_t>(site->types[i]);
      if (site->types[i] == FieldValue::Type::kString) {
        field.stored = load_unaligned<std::uint32_t>(p);
        field.original = load_unaligned<std::uint32_t>(p + 4);
        p += 8;
      }
    } else {
      field = load_unaligned<FieldHeader>(p);
      p += sizeof(FieldHeader);
      key = std::string_view(reinterpret_cast<const char*>(p), field.key_size);
      p += field.key_size;
    }
    // Values are constructed in place (placement new): a FieldValue assembled in a
    // temporary and then copied stalled on store forwarding (a byte store and an 8-byte
    // store read back by one 16-byte load), a fifth of this function.
    Candidate& candidate = candidates_.emplace_back();
    candidate.key = key;
    FieldValue* value = &candidate.value;
    switch (static_cast<FieldValue::Type>(field.type)) {
      case FieldValue::Type::kNull:
        break;
      case FieldValue::Type::kString:
        ::new (value) FieldValue(std::string_view(reinterpret_cast<const char*>(p), field.stored));
        candidate.original = field.original;
        p += field.stored;
        break;
      case FieldValue::Type::kBool:
        ::new (value) FieldValue(load_unaligned<std::uint64_t>(p) != 0);
        p += 8;
        break;
      case FieldValue::Type::kInt:
        ::new (value) FieldValue(load_unaligned<std::int64_t>(p));
        p += 8;
        break;
      case FieldValue::Type::kUint:
        ::new (value) FieldValue(load_unaligned<std::uint64_t>(p));
        p += 8;
        break;
      case FieldValue::Type::kDouble:
        ::new (value) FieldValue(load_unaligned<double>(p));
        p += 8;
        break;
    }
  }

  view_.message = clean_string(message, message_original);

  // Keys as they will be written ("extra.<reserved>", ill-formed UTF-8 repaired), so that two
  // keys that only become equal there are merged too: later wins, as for equal keys.
  for (Candidate& candidate : candidates_) candidate.written_key = clean_key(candidate.key);
  for (std::size_t i = 0; i < candidates_.size(); ++i) {
    const Candidate& candidate = candidates_[i];
    bool overridden = false;
    for (std::size_t j = i + 1; j < candidates_.size() && !overridden; ++j)
      overridden = keys_equal(candidates_[j].written_key, candidate.written_key);
    if (overridden) continue;
    Field& field = fields_.emplace_back();
    field.key = candidate.written_key;
    clean_value(candidate.key, candidate.value, candidate.original, &field.value);
  }
  view_.fields = fields_;

  if (header.chunk.flags & kFlagError) {
    const auto error = load_unaligned<ErrorHeader>(p);
    p += sizeof(ErrorHeader);
    view_.has_error = true;
    view_.error_already_reported = error.already_reported != 0;
    auto name = type_names_.find(error.type_name);
    if (name == type_names_.end())
      name = type_names_.emplace(error.type_name, demangle(error.type_name)).first;
    view_.error_type = name->second;
    view_.error_message =
        clean_string(std::string_view(reinterpret_cast<const char*>(p), error.message_stored),
                     error.message_original);
    p += error.message_stored;
    const void* frames[kMaxFrames];
    const std::uint32_t count = std::min(error.frame_count, kMaxFrames);
    std::memcpy(frames, p, std::size_t{count} * sizeof(void*));
    stack_.clear();
    symbolizer_.append(stack_, frames, count);
    view_.error_stack_trace = stack_;
  }
  return view_;
}

void Formatter::append_json(std::string& out) const {
  out.append("{\"@timestamp\":\"");
  out.append(view_.timestamp_text);
  out.append("\",\"log.level\":\"");
  out.append(kJsonLevels[static_cast<std::size_t>(view_.level)]);
  out.append("\",\"message\":");
  append_json_string(out, view_.message);
  out.append(",\"ecs.version\":\"8.11.0\",\"log.logger\":");
  append_json_string(out, view_.logger);
  if (view_.backtrace) out.append(",\"log.backtrace\":true");
  out.append(",\"process.pid\":");
  out.append(pid_text_);
  out.append(",\"process.thread.id\":");
  append_json_number(out, view_.thread_id);
  const auto member = [&out](std::string_view key, std::string_view value) {
    out.append(key);
    append_json_string(out, value);
  };
  if (!view_.service_name.empty()) member(",\"service.name\":", view_.service_name);
  if (!view_.service_version.empty()) member(",\"service.version\":", view_.service_version);
  if (!view_.service_environment.empty())
    member(",\"service.environment\":", view_.service_environment);
  if (view_.has_user) {
    member(",\"user.id\":", view_.user_id);
    if (!view_.user_name.empty()) member(",\"user.name\":", view_.user_name);
  }
  if (!view_.request_id.empty()) member(",\"request_id\":", view_.request_id);
  if (!view_.trace_id.empty()) member(",\"trace.id\":", view_.trace_id);
  if (!view_.span_id.empty()) member(",\"span.id\":", view_.span_id);
  if (view_.has_error) {
    member(",\"error.type\":", view_.error_type);
    member(",\"error.message\":", view_.error_message);
    if (!view_.error_stack_trace.empty())
      member(",\"error.stack_trace\":", view_.error_stack_trace);
  }
  for (const Field& field : view_.fields) {
    out.append(",\"");
    append_json_escaped(out, field.key);
    out.append("\":");
    append_json_value(out, field.value);
  }
  out.append("}\n");
}

void Formatter::append_text(std::string& out, bool colors) const {
  if (colors) out.append(kDim);
  out.append(timestamp_, 10);
  out.push_back(' ');
  out.append(timestamp_ + 11, 15);
  if (colors) out.append(kReset);
  out.push_back(' ');
  const auto level = static_cast<std::size_t>(view_.level);
  if (colors) out.append(kLevelColors[level]);
  out.append(kTextLevels[level]);
  if (colors) out.append(kReset);
  out.push_back(' ');
  if (view_.backtrace) out.append("[backtrace] ");
  if (colors) out.append(kBold);
  append_sanitized_text(out, view_.logger);
  if (colors) out.append(kReset);
  out.append(": ");
  append_sanitized_text(out, view_.message);
  if (view_.has_user) {
    append_text_pair(out, "user.id", FieldValue(view_.user_id), colors);
    if (!view_.user_name.empty())
      append_text_pair(out, "user.name", FieldValue(view_.user_name), colors);
  }
  if (!view_.request_id.empty())
    append_text_pair(out, "request_id", FieldValue(view_.request_id), colors);
  if (!view_.trace_id.empty())
    append_text_pair(out, "trace.id", FieldValue(view_.trace_id), colors);
  if (!view_.span_id.empty()) append_text_pair(out, "span.id", FieldValue(view_.span_id), colors);
  for (const Field& field : view_.fields) append_text_pair(out, field.key, field.value, colors);
  if (view_.has_error) {
    append_text_pair(out, "error.type", FieldValue(view_.error_type), colors);
    append_text_pair(out, "error.message", FieldValue(view_.error_message), colors);
    std::string_view stack = view_.error_stack_trace;
    while (!stack.empty()) {
      const std::size_t end = stack.find('\n');
      out.append("\n    ");
      append_sanitized_text(out, stack.substr(0, end));
      if (end == std::string_view::npos) break;
      stack.remove_prefix(end + 1);
    }
  }
  out.push_back('\n');
}

}  // namespace monitoring::logging::detail
