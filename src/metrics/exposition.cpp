#include "monitoring/metrics/exposition.hpp"

#include <libdeflate.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <memory>

#include "monitoring/error.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {

namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not valid (RFC 3629: no
// overlongs, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) { return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80; };
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

// Appends `s` escaped for a label value or HELP text. Invalid UTF-8 becomes U+FFFD, since
// Prometheus rejects a whole scrape over one bad byte.
void append_escaped(std::string& out, std::string_view s, bool escape_quote) {
  std::size_t plain_from = 0;
  std::size_t i = 0;
  auto flush = [&](std::size_t upto) { out.append(s.data() + plain_from, upto - plain_from); };
  while (i < s.size()) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      const std::size_t n = utf8_sequence_length(s, i);
      if (n == 0) {
        flush(i);
        out += kReplacementChar;
        plain_from = ++i;
      } else {
        i += n;
      }
      continue;
    }
    if (c == '\\' || c == '\n' || (escape_quote && c == '"')) {
      flush(i);
      out += '\\';
      out += c == '\n' ? 'n' : c;
      plain_from = ++i;
      continue;
    }
    ++i;
  }
  flush(s.size());
}

void append_double(std::string& out, double value, bool canonical_float) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buffer[32];
  auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  const std::size_t n = static_cast<std::size_t>(result.ptr - buffer);
  out.append(buffer, n);
  // OpenMetrics wants "le" as a float ("1.0", not "1") so series match across exposers.
  if (canonical_float && std::memchr(buffer, '.', n) == nullptr && std::memchr(buffer, 'e', n) == nullptr) out += ".0";
}

struct MediaRange {
  std::string_view type;
  std::string_view version;
  double q = 1.0;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

double parse_q(std::string_view value) {
  double q = 1.0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), q);
  if (ec != std::errc() || ptr != value.data() + value.size() || !(q >= 0.0) || q > 1.0) return 1.0;
  return q;
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
    std::string_view params = semi == std::string_view::npos ? std::string_view{} : element.substr(semi + 1);
    while (!params.empty()) {
      const std::size_t next = params.find(';');
      std::string_view param = trim(params.substr(0, next));
      params = next == std::string_view::npos ? std::string_view{} : params.substr(next + 1);
      const std::size_t eq = param.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view key = trim(param.substr(0, eq));
      std::string_view value = trim(param.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      if (iequals(key, "q")) range.q = parse_q(value);
      else if (iequals(key, "version")) range.version = value;
    }
    if (!range.type.empty()) fn(range);
  }
}

struct CompressorDeleter {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};

}  // namespace

std::string_view content_type(ExpositionFormat format) noexcept {
  return format == ExpositionFormat::kOpenMetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
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
    } else if (iequals(range.type, "text/plain") || iequals(range.type, "text/*") || iequals(range.type, "*/*")) {
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
    if (iequals(range.type, "gzip") || iequals(range.type, "x-gzip")) gzip_q = range.q;
    else if (range.type == "*") any_q = range.q;
  });
  if (gzip_q >= 0) return gzip_q > 0;
  return any_q > 0;
}

std::string gzip_compress(std::string_view data, int level) {
  if (level < 0 || level > 12) throw Error("gzip level must be 0..12, got " + std::to_string(level));
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
  const std::size_t n = libdeflate_gzip_compress(compressor.get(), data.data(), data.size(), out.data(), out.size());
  if (n == 0) throw Error("gzip compression failed");
  out.resize(n);
  return out;
}

void MetricWriter::family(std::string_view name, std::string_view help, MetricType type) {
  type_ = type;
  std::string_view family_name = name;
  if (format_ == ExpositionFormat::kOpenMetrics && type == MetricType::kCounter && name.ends_with("_total"))
    family_name.remove_suffix(6);
  name_.assign(family_name);
  if (format_ == ExpositionFormat::kOpenMetrics && type == MetricType::kCounter) {
    counter_sample_ = name_ + "_total";
  } else if (type == MetricType::kCounter) {
    counter_sample_.assign(name);
  }
  if (!help.empty()) {
    out_ += "# HELP ";
    out_ += family_name;
    out_ += ' ';
    append_escaped(out_, help, format_ == ExpositionFormat::kOpenMetrics);
    out_ += '\n';
  }
  out_ += "# TYPE ";
  out_ += family_name;
  switch (type) {
    case MetricType::kCounter: out_ += " counter\n"; break;
    case MetricType::kGauge: out_ += " gauge\n"; break;
    case MetricType::kHistogram: out_ += " histogram\n"; break;
    case MetricType::kUntyped: out_ += format_ == ExpositionFormat::kOpenMetrics ? " unknown\n" : " untyped\n"; break;
  }
}

void MetricWriter::sample(std::string_view suffix, std::span<const std::string> label_names,
                          std::span<const std::string> label_values, double value, std::string_view extra_label,
                          double extra_value) {
  if (type_ == MetricType::kCounter) {
    out_ += counter_sample_;
  } else {
    out_ += name_;
    out_ += suffix;
  }
  labels(label_names, label_values, extra_label, extra_value);
  out_ += ' ';
  append_double(out_, value, false);
  out_ += '\n';
}

void MetricWriter::histogram(std::span<const std::string> label_names, std::span<const std::string> label_values,
                             std::span<const double> bounds, std::span<const double> cumulative, double sum) {
  for (std::size_t i = 0; i < bounds.size(); ++i) sample("_bucket", label_names, label_values, cumulative[i], "le", bounds[i]);
  const double count = cumulative.empty() ? 0 : cumulative.back();
  sample("_bucket", label_names, label_values, count, "le", INFINITY);
  sample("_sum", label_names, label_values, sum);
  sample("_count", label_names, label_values, count);
}

void MetricWriter::labels(std::span<const std::string> names, std::span<const std::string> values,
                          std::string_view extra_label, double extra_value) {
  if (names.empty() && extra_label.empty()) return;
  out_ += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out_ += ',';
    out_ += names[i];
    out_ += "=\"";
    append_escaped(out_, values[i], true);
    out_ += '"';
  }
  if (!extra_label.empty()) {
    if (!names.empty()) out_ += ',';
    out_ += extra_label;
    out_ += "=\"";
    append_double(out_, extra_value, format_ == ExpositionFormat::kOpenMetrics);
    out_ += '"';
  }
  out_ += '}';
}

void MetricWriter::finish() {
  if (format_ == ExpositionFormat::kOpenMetrics) out_ += "# EOF\n";
}

std::string serialize(const Registry& registry, ExpositionFormat format) {
  std::string out;
  out.reserve(64 * 1024);
  MetricWriter writer(out, format);
  registry.collect(writer);
  writer.finish();
  return out;
}

}  // namespace monitoring::metrics
