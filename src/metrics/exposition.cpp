#include "monitoring/metrics/exposition.hpp"

#include <libdeflate.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#include "core/ascii.hpp"
#include "monitoring/error.hpp"
#include "monitoring/metrics/detail/series_table.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {

namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not valid (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) {
    return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
  };
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b0 == 0xE0 && b1 < 0xA0) return 0;  // overlong
    if (b0 == 0xED && b1 > 0x9F) return 0;  // surrogate
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const auto b1 = static_cast<unsigned char>(s[i + 1]);
    if (b0 == 0xF0 && b1 < 0x90) return 0;
    if (b0 == 0xF4 && b1 > 0x8F) return 0;
    return 4;
  }
  return 0;
}

// Bytes a label value or HELP text cannot copy verbatim: escapes and every non-ASCII byte
// (checked as UTF-8). Everything else is copied in runs.
constexpr std::array<bool, 256> kSpecialBytes = [] {
  std::array<bool, 256> table{};
  table['\\'] = table['"'] = table['\n'] = true;
  for (int b = 0x80; b < 0x100; ++b) table[static_cast<std::size_t>(b)] = true;
  return table;
}();

// Room one escaped byte can take: U+FFFD (3 bytes) for an invalid byte, 2 for an escape.
constexpr std::size_t kEscapedBytesPerByte = 3;
// Room for any number write_double produces (shortest doubles are at most 24 characters).
constexpr std::size_t kNumberRoom = 32;

// Writes `s` escaped for a label value or HELP text at `p` (kEscapedBytesPerByte * s.size()
// bytes of room) and returns the end. Invalid UTF-8 becomes U+FFFD, since Prometheus rejects
// a whole scrape over one bad byte.
char* write_escaped(char* p, std::string_view s, bool escape_quote) {
  const char* data = s.data();
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    std::size_t run = i;
    while (run < n && !kSpecialBytes[static_cast<unsigned char>(data[run])]) ++run;
    if (run > i) std::memcpy(p, data + i, run - i);
    p += run - i;
    i = run;
    if (i == n) break;
    const char c = data[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      const std::size_t length = utf8_sequence_length(s, i);
      if (length == 0) {
        std::memcpy(p, kReplacementChar.data(), kReplacementChar.size());
        p += kReplacementChar.size();
        ++i;
      } else {
        std::memcpy(p, data + i, length);
        p += length;
        i += length;
      }
    } else if (c == '"' && !escape_quote) {
      *p++ = c;
      ++i;
    } else {
      *p++ = '\\';
      *p++ = c == '\n' ? 'n' : c;
      ++i;
    }
  }
  return p;
}

char* write_text(char* p, std::string_view s) {
  if (!s.empty()) std::memcpy(p, s.data(), s.size());  // an empty view may have a null data()
  return p + s.size();
}

// Writes `value` at `p` (kNumberRoom bytes of room): NaN, +Inf, -Inf, or the shortest text
// that parses back to the same double. Whole numbers below 2^53 are printed as integers
// ("1000000", not "1e+06"): the common case for counts, and cheaper to format.
char* write_double(char* p, double value, bool canonical_float) {
  if (std::isnan(value)) return write_text(p, "NaN");
  if (std::isinf(value)) return write_text(p, value > 0 ? "+Inf" : "-Inf");
  constexpr double kExactIntegers = 9007199254740992.0;  // 2^53
  char* end;
  if (value > -kExactIntegers && value < kExactIntegers &&
      value == static_cast<double>(static_cast<std::int64_t>(value)) &&
      !(value == 0 && std::signbit(value))) {
    end = std::to_chars(p, p + kNumberRoom, static_cast<std::int64_t>(value)).ptr;
    // OpenMetrics wants "le" as a float ("1.0", not "1") so series match across exposers.
    if (canonical_float) end = write_text(end, ".0");
    return end;
  }
  end = std::to_chars(p, p + kNumberRoom, value).ptr;
  const auto n = static_cast<std::size_t>(end - p);
  if (canonical_float && std::memchr(p, '.', n) == nullptr && std::memchr(p, 'e', n) == nullptr)
    end = write_text(end, ".0");
  return end;
}

std::size_t label_room(std::span<const std::string> names, std::span<const std::string> values) {
  std::size_t room = 2;  // braces
  for (std::size_t i = 0; i < names.size(); ++i)
    room += names[i].size() + 4 + kEscapedBytesPerByte * values[i].size();  // ,name="value"
  return room;
}

// Writes `name="value",...` (no braces).
char* write_label_pairs(char* p, std::span<const std::string> names,
                        std::span<const std::string> values) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) *p++ = ',';
    p = write_text(p, names[i]);
    *p++ = '=';
    *p++ = '"';
    p = write_escaped(p, values[i], true);
    *p++ = '"';
  }
  return p;
}

std::size_t series_label_room(std::span<const std::string> names, const detail::SeriesKey& series) {
  std::size_t room = 2;
  for (std::size_t i = 0; i < names.size(); ++i)
    room += names[i].size() + 4 + series.exposed_label_value(i).size();
  return room;
}

// Writes `name="value",...` from a series' stored, already escaped values.
char* write_series_pairs(char* p, std::span<const std::string> names,
                         const detail::SeriesKey& series) {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) *p++ = ',';
    p = write_text(p, names[i]);
    *p++ = '=';
    *p++ = '"';
    p = write_text(p, series.exposed_label_value(i));
    *p++ = '"';
  }
  return p;
}

// Code points `s` has once written (an invalid byte becomes one U+FFFD).
std::size_t code_points(std::string_view s) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size(); ++count)
    i += std::max<std::size_t>(utf8_sequence_length(s, i), 1);
  return count;
}

// Whether OpenMetrics allows `exemplar` on the bucket with upper bound `bound` (null: +Inf).
bool exemplar_allowed(const Exemplar& exemplar, const double* bound) {
  if (exemplar.empty()) return false;
  std::size_t label_text = std::string_view("trace_id").size() + code_points(exemplar.trace_id);
  if (!exemplar.span_id.empty())
    label_text += std::string_view("span_id").size() + code_points(exemplar.span_id);
  if (label_text > kExemplarMaxLabelCodePoints) return false;
  return bound == nullptr ? !std::isnan(exemplar.value) : exemplar.value <= *bound;
}

// Room write_exemplar needs for `exemplar`.
std::size_t exemplar_room(const Exemplar& exemplar) {
  return 32 + kEscapedBytesPerByte * (exemplar.trace_id.size() + exemplar.span_id.size()) +
         2 * kNumberRoom;
}

// Writes ` # {trace_id="...",span_id="..."} value timestamp` (OpenMetrics exemplar syntax).
char* write_exemplar(char* p, const Exemplar& exemplar) {
  p = write_text(p, " # {trace_id=\"");
  p = write_escaped(p, exemplar.trace_id, true);
  if (!exemplar.span_id.empty()) {
    p = write_text(p, "\",span_id=\"");
    p = write_escaped(p, exemplar.span_id, true);
  }
  p = write_text(p, "\"} ");
  p = write_double(p, exemplar.value, false);
  *p++ = ' ';
  // Seconds with the milliseconds as decimals: the shortest form of ms / 1000 is exact.
  return write_double(p, static_cast<double>(exemplar.timestamp_ms) / 1000.0, false);
}

void check_label_spans(std::span<const std::string> names, std::span<const std::string> values) {
  if (names.size() != values.size()) [[unlikely]]
    throw MetricError("metric sample has " + std::to_string(names.size()) + " label name(s) but " +
                      std::to_string(values.size()) + " value(s)");
}

struct MediaRange {
  std::string_view type;
  std::string_view version;
  double q = 1.0;
  bool valid_q = true;  // false: a q parameter that is not an RFC 9110 qvalue
};

using core::iequals;
// Media-range and parameter lists: optional whitespace is spaces and tabs.
constexpr auto trim = core::trim_blanks;

// RFC 9110 section 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
// Anything else ("-1", "nan", "inf", "1.5", "0.0001", ".5", "") is not a qvalue: -1.
double parse_q(std::string_view value) noexcept {
  if (value.empty() || (value[0] != '0' && value[0] != '1')) return -1;
  const std::string_view fraction = value.substr(1);
  if (!fraction.empty() && (fraction[0] != '.' || fraction.size() > 4)) return -1;
  int thousandths = value[0] == '1' ? 1000 : 0;
  int scale = 100;
  for (std::size_t i = 1; i < fraction.size(); ++i, scale /= 10) {
    const char digit = fraction[i];
    if (digit < '0' || digit > '9' || (value[0] == '1' && digit != '0')) return -1;
    thousandths += (digit - '0') * scale;
  }
  return thousandths / 1000.0;
}

// Calls fn(MediaRange) for each comma-separated element of an Accept-style header.
template <class Fn>
void for_each_range(std::string_view header, Fn&& fn) {
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    std::string_view element = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
    MediaRange range;
    const std::size_t semi = element.find(';');
    range.type = trim(element.substr(0, semi));
    std::string_view params =
        semi == std::string_view::npos ? std::string_view{} : element.substr(semi + 1);
    while (!params.empty()) {
      const std::size_t next = params.find(';');
      std::string_view param = trim(params.substr(0, next));
      params = next == std::string_view::npos ? std::string_view{} : params.substr(next + 1);
      const std::size_t eq = param.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view key = trim(param.substr(0, eq));
      std::string_view value = trim(param.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      if (iequals(key, "q")) {
        range.q = parse_q(value);
        range.valid_q = range.q >= 0;
      } else if (iequals(key, "version"))
        range.version = value;
    }
    // An element with an invalid q-value is ignored: it is neither preferred nor a refusal.
    if (!range.type.empty() && range.valid_q) fn(range);
  }
}

struct CompressorDeleter {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};

}  // namespace

namespace detail {

bool is_utf8(std::string_view value) noexcept {
  for (std::size_t i = 0; i < value.size();) {
    if (static_cast<unsigned char>(value[i]) < 0x80) {
      ++i;
    } else if (const std::size_t length = utf8_sequence_length(value, i); length != 0) {
      i += length;
    } else {
      return false;
    }
  }
  return true;
}

std::string repair_utf8(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 2 * kReplacementChar.size());
  for (std::size_t i = 0; i < value.size();) {
    if (const std::size_t length = utf8_sequence_length(value, i); length != 0) {
      out.append(value.substr(i, length));
      i += length;
    } else {
      out.append(kReplacementChar);
      ++i;
    }
  }
  return out;
}

std::size_t escape_label_value(std::string_view value, char* out) noexcept {
  if (out != nullptr) return static_cast<std::size_t>(write_escaped(out, value, true) - out);
  std::size_t size = 0;
  for (std::size_t i = 0; i < value.size();) {
    const auto byte = static_cast<unsigned char>(value[i]);
    if (!kSpecialBytes[byte]) {
      ++size;
      ++i;
    } else if (byte < 0x80) {
      size += 2;  // backslash escape
      ++i;
    } else if (const std::size_t length = utf8_sequence_length(value, i); length == 0) {
      size += kReplacementChar.size();
      ++i;
    } else {
      size += length;
      i += length;
    }
  }
  return size;
}

}  // namespace detail

std::string_view content_type(ExpositionFormat format) noexcept {
  return format == ExpositionFormat::kOpenMetrics
             ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
             : "text/plain; version=0.0.4; charset=utf-8";
}

ExpositionFormat negotiate_format(std::string_view accept) noexcept {
  double best_q = 0;
  ExpositionFormat best = ExpositionFormat::kText;
  for_each_range(accept, [&](const MediaRange& range) {
    ExpositionFormat format;
    if (iequals(range.type, "application/openmetrics-text")) {
      if (!range.version.empty() && range.version != "1.0.0" && range.version != "0.0.1") return;
      format = ExpositionFormat::kOpenMetrics;
    } else if (iequals(range.type, "text/plain") || iequals(range.type, "text/*") ||
               iequals(range.type, "*/*")) {
      if (!range.version.empty() && range.version != "0.0.4") return;
      format = ExpositionFormat::kText;
    } else {
      return;
    }
    if (range.q > best_q) {  // strictly greater: on a tie the earlier entry stays
      best_q = range.q;
      best = format;
    }
  });
  return best;
}

bool accepts_gzip(std::string_view accept_encoding) noexcept {
  double gzip_q = -1, any_q = -1;
  for_each_range(accept_encoding, [&](const MediaRange& range) {
    if (iequals(range.type, "gzip") || iequals(range.type, "x-gzip"))
      gzip_q = range.q;
    else if (range.type == "*")
      any_q = range.q;
  });
  if (gzip_q >= 0) return gzip_q > 0;
  return any_q > 0;
}

std::string gzip_compress(std::string_view data, int level) {
  if (level < 0 || level > 12)
    throw Error("gzip level must be 0..12, got " + std::to_string(level));
  // One compressor per thread and level: allocating one costs more than compressing 100 KB.
  thread_local std::unique_ptr<libdeflate_compressor, CompressorDeleter> compressor;
  thread_local int compressor_level = -1;
  if (!compressor || compressor_level != level) {
    compressor.reset(libdeflate_alloc_compressor(level));
    if (!compressor) throw Error("libdeflate could not allocate a compressor");
    compressor_level = level;
  }
  std::string out;
  out.resize(libdeflate_gzip_compress_bound(compressor.get(), data.size()));
  const std::size_t n =
      libdeflate_gzip_compress(compressor.get(), data.data(), data.size(), out.data(), out.size());
  if (n == 0) throw Error("gzip compression failed");
  out.resize(n);
  return out;
}

char* MetricWriter::reserve_tail(std::size_t room) {
  const std::size_t size = out_.size();
  // Geometric growth; resize() alone would grow to the exact size and reallocate per line.
  if (out_.capacity() - size < room) out_.reserve(std::max(out_.capacity() * 2, size + room));
  out_.resize(size + room);
  return out_.data() + size;
}

void MetricWriter::commit(const char* end) {
  out_.resize(static_cast<std::size_t>(end - out_.data()));
}

void MetricWriter::family(std::string_view name, std::string_view help, MetricType type) {
  type_ = type;
  std::string_view family_name = name;
  if (format_ == ExpositionFormat::kOpenMetrics && type == MetricType::kCounter &&
      name.ends_with("_total"))
    family_name.remove_suffix(6);
  name_.assign(family_name);
  if (type == MetricType::kInfo) {
    name_ += "_info";
    if (format_ == ExpositionFormat::kText) family_name = name_;
  }
  if (format_ == ExpositionFormat::kOpenMetrics && type == MetricType::kCounter) {
    counter_sample_ = name_ + "_total";
  } else if (type == MetricType::kCounter) {
    counter_sample_.assign(name);
  }
  std::string_view type_text = " untyped\n";
  switch (type) {
    case MetricType::kCounter:
      type_text = " counter\n";
      break;
    case MetricType::kGauge:
      type_text = " gauge\n";
      break;
    case MetricType::kHistogram:
      type_text = " histogram\n";
      break;
    case MetricType::kUntyped:
      type_text = format_ == ExpositionFormat::kOpenMetrics ? " unknown\n" : " untyped\n";
      break;
    case MetricType::kInfo:
      type_text = format_ == ExpositionFormat::kOpenMetrics ? " info\n" : " gauge\n";
      break;
    case MetricType::kStateSet:
      type_text = format_ == ExpositionFormat::kOpenMetrics ? " stateset\n" : " gauge\n";
      break;
  }
  char* p = reserve_tail(2 * family_name.size() + kEscapedBytesPerByte * help.size() + 32);
  if (!help.empty()) {
    p = write_text(p, "# HELP ");
    p = write_text(p, family_name);
    *p++ = ' ';
    p = write_escaped(p, help, format_ == ExpositionFormat::kOpenMetrics);
    *p++ = '\n';
  }
  p = write_text(p, "# TYPE ");
  p = write_text(p, family_name);
  p = write_text(p, type_text);
  commit(p);
}

void MetricWriter::sample(std::string_view suffix, std::span<const std::string> label_names,
                          std::span<const std::string> label_values, double value,
                          std::string_view extra_label, double extra_value) {
  check_label_spans(label_names, label_values);
  const std::string_view name =
      type_ == MetricType::kCounter ? std::string_view(counter_sample_) : name_;
  if (type_ == MetricType::kCounter) suffix = {};
  char* p = reserve_tail(name.size() + suffix.size() + label_room(label_names, label_values) +
                         extra_label.size() + kNumberRoom + 4 + kNumberRoom + 2);
  p = write_text(p, name);
  p = write_text(p, suffix);
  if (!label_names.empty() || !extra_label.empty()) {
    *p++ = '{';
    p = write_label_pairs(p, label_names, label_values);
    if (!extra_label.empty()) {
      if (!label_names.empty()) *p++ = ',';
      p = write_text(p, extra_label);
      *p++ = '=';
      *p++ = '"';
      p = write_double(p, extra_value, format_ == ExpositionFormat::kOpenMetrics);
      *p++ = '"';
    }
    *p++ = '}';
  }
  *p++ = ' ';
  p = write_double(p, value, false);
  *p++ = '\n';
  commit(p);
}

void MetricWriter::histogram(std::span<const std::string> label_names,
                             std::span<const std::string> label_values,
                             std::span<const double> bounds, std::span<const double> cumulative,
                             double sum, std::span<const Exemplar> exemplars) {
  check_label_spans(label_names, label_values);
  // The escaped label pairs are the same on every line of the series: render them once.
  label_pairs_.resize(label_room(label_names, label_values));
  label_pairs_.resize(static_cast<std::size_t>(
      write_label_pairs(label_pairs_.data(), label_names, label_values) - label_pairs_.data()));
  histogram_lines(label_pairs_, bounds, cumulative, sum, exemplars);
}

void MetricWriter::series_sample(std::span<const std::string> label_names,
                                 const detail::SeriesKey& series, double value) {
  const std::string_view name =
      type_ == MetricType::kCounter ? std::string_view(counter_sample_) : name_;
  char* p = reserve_tail(name.size() + series_label_room(label_names, series) + kNumberRoom + 2);
  p = write_text(p, name);
  if (!label_names.empty()) {
    *p++ = '{';
    p = write_series_pairs(p, label_names, series);
    *p++ = '}';
  }
  *p++ = ' ';
  p = write_double(p, value, false);
  *p++ = '\n';
  commit(p);
}

void MetricWriter::series_histogram(std::span<const std::string> label_names,
                                    const detail::SeriesKey& series, std::span<const double> bounds,
                                    std::span<const double> cumulative, double sum,
                                    std::span<const Exemplar> exemplars) {
  label_pairs_.resize(series_label_room(label_names, series));
  label_pairs_.resize(static_cast<std::size_t>(
      write_series_pairs(label_pairs_.data(), label_names, series) - label_pairs_.data()));
  histogram_lines(label_pairs_, bounds, cumulative, sum, exemplars);
}

void MetricWriter::histogram_lines(std::string_view pairs, std::span<const double> bounds,
                                   std::span<const double> cumulative, double sum,
                                   std::span<const Exemplar> exemplars) {
  if (cumulative.size() != bounds.size() + 1) [[unlikely]]
    throw MetricError("histogram " + name_ + " has " + std::to_string(bounds.size()) +
                      " bound(s) but " + std::to_string(cumulative.size()) +
                      " cumulative count(s); expected one more (+Inf)");
  if (!exemplars.empty() && exemplars.size() != cumulative.size()) [[unlikely]]
    throw MetricError("histogram " + name_ + " has " + std::to_string(cumulative.size()) +
                      " bucket(s) but " + std::to_string(exemplars.size()) +
                      " exemplar entries; expected one per bucket or none");
  const bool canonical = format_ == ExpositionFormat::kOpenMetrics;
  if (!canonical) exemplars = {};  // text format 0.0.4 has no exemplar syntax
  const std::size_t line = name_.size() + 8 + pairs.size() + 8 + 2 * kNumberRoom + 8;
  std::size_t room = line * (bounds.size() + 3);
  for (const Exemplar& exemplar : exemplars)
    if (!exemplar.empty()) room += exemplar_room(exemplar);
  char* p = reserve_tail(room);
  auto bucket = [&](std::size_t index, const double* bound) {
    p = write_text(p, name_);
    p = write_text(p, "_bucket{");
    p = write_text(p, pairs);
    if (!pairs.empty()) *p++ = ',';
    p = write_text(p, "le=\"");
    p = bound ? write_double(p, *bound, canonical) : write_text(p, "+Inf");
    p = write_text(p, "\"} ");
    p = write_double(p, cumulative[index], false);
    if (!exemplars.empty() && exemplar_allowed(exemplars[index], bound))
      p = write_exemplar(p, exemplars[index]);
    *p++ = '\n';
  };
  auto plain = [&](std::string_view suffix, double value) {
    p = write_text(p, name_);
    p = write_text(p, suffix);
    if (!pairs.empty()) {
      *p++ = '{';
      p = write_text(p, pairs);
      *p++ = '}';
    }
    *p++ = ' ';
    p = write_double(p, value, false);
    *p++ = '\n';
  };
  for (std::size_t i = 0; i < bounds.size(); ++i) bucket(i, &bounds[i]);
  bucket(bounds.size(), nullptr);
  plain("_sum", sum);
  plain("_count", cumulative.back());
  commit(p);
}

void MetricWriter::finish() {
  if (format_ == ExpositionFormat::kOpenMetrics) out_ += "# EOF\n";
}

std::string serialize(const Registry& registry, ExpositionFormat format) {
  // Start at the size of this thread's previous scrape (plus slack): one allocation, no
  // doubling copies of a multi-megabyte exposition.
  thread_local std::size_t previous_size = 64 * 1024;
  std::string out;
  out.reserve(previous_size + previous_size / 8);
  MetricWriter writer(out, format);
  registry.collect(writer);
  writer.finish();
  previous_size = out.size();
  return out;
}

}  // namespace monitoring::metrics
