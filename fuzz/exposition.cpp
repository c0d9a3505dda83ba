// A registry with fuzzed metric names, help texts, label names and label values, rendered in
// the text format 0.0.4 and in OpenMetrics 1.0.
//
// Registration may refuse a name (MetricError); everything it accepted must be exported.
// Properties, for both formats:
//   - every line is "# HELP name text", "# TYPE name type", "# EOF" (OpenMetrics, last line
//     only) or a sample "name{label="value",...} number" with a valid metric name, valid
//     label names and only the escapes \\, \" and \n in label values;
//   - the output is valid UTF-8 (an invalid byte in a value becomes U+FFFD);
//   - every accepted series has its sample (counter, gauge) or its _count and +Inf bucket
//     (histogram), with its label values round-tripping: the unescaped value equals the
//     original with each invalid UTF-8 byte replaced by U+FFFD; counter and gauge values and
//     histogram counts are the ones written;
//   - no two samples have the same name and labels: label values that differ only in invalid
//     UTF-8 bytes are one series, whose value adds up what was written through each;
//   - every HELP text round-trips the same way.

#include "monitoring/metrics/exposition.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_support.hpp"
#include "monitoring/error.hpp"
#include "monitoring/metrics/registry.hpp"

namespace {

using monitoring::metrics::ExpositionFormat;
using monitoring::metrics::MetricType;
using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  std::string name;
  Labels labels;
  std::string value;
};

struct Parsed {
  std::map<std::string, std::string> help;  // family -> unescaped text
  std::vector<Sample> samples;
};

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

/// The value as the exposition must show it: each byte that starts no well-formed UTF-8
/// sequence replaced by U+FFFD.
std::string expected_text(std::string_view raw) {
  std::string out;
  for (std::size_t i = 0; i < raw.size();) {
    const std::size_t n = fuzz::utf8_length_at(raw, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(raw.substr(i, n));
      i += n;
    }
  }
  return out;
}

/// Reads a metric or label name at `pos`.
std::string read_name(std::string_view line, std::size_t& pos, std::string_view what) {
  const std::size_t begin = pos;
  if (pos < line.size() && is_name_start(line[pos])) ++pos;
  while (pos < line.size() && is_name_char(line[pos])) ++pos;
  fuzz::check(pos > begin, std::string(what) + " is not a valid name", line);
  return std::string(line.substr(begin, pos - begin));
}

/// Unescapes a HELP text (text format: \\ and \n; OpenMetrics also \").
std::string unescape(std::string_view text, bool quote_escape, std::string_view line) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    fuzz::check(i + 1 < text.size(), "a text ends with a lone backslash", line);
    const char next = text[++i];
    if (next == 'n')
      out += '\n';
    else if (next == '\\' || (quote_escape && next == '"'))
      out += next;
    else
      fuzz::check(false, "an invalid escape", line);
  }
  return out;
}

bool is_number(std::string_view text) {
  if (text == "+Inf" || text == "-Inf" || text == "NaN") return true;
  if (text.empty()) return false;
  const std::string copy(text);
  char* end = nullptr;
  std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size() && copy.find_first_of("xXpP") == std::string::npos;
}

Parsed parse(std::string_view text, ExpositionFormat format) {
  const bool om = format == ExpositionFormat::kOpenMetrics;
  Parsed parsed;
  fuzz::check(fuzz::is_utf8(text), "the exposition is not valid UTF-8", text);
  fuzz::check(text.empty() || text.back() == '\n', "the exposition does not end with a newline",
              text);
  bool eof = false;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    fuzz::check(!eof, "a line after # EOF", line);
    if (line == "# EOF") {
      fuzz::check(om, "# EOF in the text format", line);
      eof = true;
      continue;
    }
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      std::size_t pos = 7;
      const std::string name = read_name(line, pos, "a HELP/TYPE family name");
      fuzz::check(pos < line.size() && line[pos] == ' ', "no space after the family name", line);
      const std::string_view rest = line.substr(pos + 1);
      if (line[2] == 'H') {
        parsed.help[name] = unescape(rest, om, line);
      } else {
        const bool known = rest == "counter" || rest == "gauge" || rest == "histogram" ||
                           rest == (om ? "unknown" : "untyped");
        fuzz::check(known, "an unknown TYPE", line);
      }
      continue;
    }
    fuzz::check(line.empty() || line[0] != '#', "an unexpected comment line", line);
    Sample sample;
    std::size_t pos = 0;
    sample.name = read_name(line, pos, "a sample name");
    if (pos < line.size() && line[pos] == '{') {
      ++pos;
      while (pos < line.size() && line[pos] != '}') {
        std::string label = read_name(line, pos, "a label name");
        fuzz::check(line.substr(pos, 2) == "=\"", "a label without =\"", line);
        pos += 2;
        std::string value;
        while (true) {
          fuzz::check(pos < line.size(), "an unterminated label value", line);
          const char c = line[pos++];
          if (c == '"') break;
          if (c != '\\') {
            value += c;
            continue;
          }
          fuzz::check(pos < line.size(), "a label value ends with a backslash", line);
          const char next = line[pos++];
          if (next == 'n')
            value += '\n';
          else if (next == '\\' || next == '"')
            value += next;
          else
            fuzz::check(false, "an invalid escape in a label value", line);
        }
        sample.labels.emplace_back(std::move(label), std::move(value));
        if (pos < line.size() && line[pos] == ',') ++pos;
      }
      fuzz::check(pos < line.size(), "unterminated label set", line);
      ++pos;
    }
    fuzz::check(pos < line.size() && line[pos] == ' ', "no space before the value", line);
    std::string_view value = line.substr(pos + 1);
    // OpenMetrics exemplars are not written here (no trace); a timestamp is not either.
    fuzz::check(is_number(value), "the sample value is not a number", line);
    sample.value = std::string(value);
    for (const Sample& other : parsed.samples)
      fuzz::check(other.name != sample.name || other.labels != sample.labels,
                  "two samples with the same name and labels", line);
    parsed.samples.push_back(std::move(sample));
  }
  fuzz::check(eof == om, "OpenMetrics output must end with # EOF", text);
  return parsed;
}

struct Series {
  std::string family;  // registered name
  MetricType type;
  Labels labels;  // expected, as exported
  double value;   // counter/gauge value, histogram count
};

const Sample* find(const Parsed& parsed, std::string_view name, const Labels& labels) {
  for (const Sample& sample : parsed.samples)
    if (sample.name == name && sample.labels == labels) return &sample;
  return nullptr;
}

void check_format(const monitoring::metrics::Registry& registry, ExpositionFormat format,
                  const std::vector<Series>& series,
                  const std::vector<std::pair<std::string, std::string>>& helps) {
  const bool om = format == ExpositionFormat::kOpenMetrics;
  const std::string text = monitoring::metrics::serialize(registry, format);
  const Parsed parsed = parse(text, format);
  for (const Series& s : series) {
    std::string name = s.family;
    Labels labels = s.labels;
    if (s.type == MetricType::kCounter && om && !name.ends_with("_total")) name += "_total";
    if (s.type == MetricType::kHistogram) name += "_count";
    const Sample* sample = find(parsed, name, labels);
    fuzz::check(sample != nullptr, "an accepted series is missing", name + "\n" + text);
    fuzz::check(std::strtod(sample->value.c_str(), nullptr) == s.value,
                "a series has a wrong value", name + " " + sample->value);
    if (s.type == MetricType::kHistogram) {
      labels.emplace_back("le", "+Inf");
      fuzz::check(find(parsed, s.family + "_bucket", labels) != nullptr,
                  "a histogram has no +Inf bucket", s.family + "\n" + text);
    }
  }
  for (const auto& [family, help] : helps) {
    if (help.empty()) continue;
    std::string shown = family;
    if (om && shown.ends_with("_total")) {
      // An OpenMetrics counter family drops the suffix; a gauge keeps it.
      if (parsed.help.find(shown) == parsed.help.end()) shown.resize(shown.size() - 6);
    }
    const auto it = parsed.help.find(shown);
    fuzz::check(it != parsed.help.end(), "a family lost its HELP", family + "\n" + text);
    fuzz::check(it->second == expected_text(help), "a HELP text does not round-trip",
                it->second + " vs " + help);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  monitoring::metrics::Registry registry;
  std::vector<Series> series;
  std::vector<std::pair<std::string, std::string>> helps;
  std::deque<std::string> strings;  // label values, alive while the registry is
  const int families = input.ConsumeIntegralInRange(1, 4);
  for (int f = 0; f < families && input.remaining_bytes() > 0; ++f) {
    const auto type = static_cast<MetricType>(input.ConsumeIntegralInRange(0, 2));
    std::string name = input.ConsumeRandomLengthString(40);
    std::string help = input.ConsumeRandomLengthString(80);
    std::vector<std::string> label_names;
    const int label_count = input.ConsumeIntegralInRange(0, 3);
    for (int l = 0; l < label_count; ++l)
      label_names.push_back(input.ConsumeRandomLengthString(16));
    bool seen = false;  // asking again returns the same family: keep one expectation per name
    for (const auto& [family, text] : helps) seen = seen || family == name;
    if (seen) continue;
    try {
      const int series_count = input.ConsumeIntegralInRange(1, 4);
      std::vector<std::vector<std::string_view>> values(static_cast<std::size_t>(series_count));
      for (auto& v : values)
        for (int l = 0; l < label_count; ++l)
          v.push_back(strings.emplace_back(input.ConsumeRandomLengthString(24)));
      const auto amount = input.ConsumeIntegralInRange<std::uint32_t>(0, 1000000);
      const double gauge = input.ConsumeFloatingPoint<double>();
      // The same label values name the same series, and so do values that differ only in
      // invalid UTF-8 bytes (stored repaired, as they are exported).
      std::map<Labels, double> totals;
      auto expected_labels = [&](const std::vector<std::string_view>& v) {
        Labels labels;
        for (std::size_t l = 0; l < v.size(); ++l)
          labels.emplace_back(label_names[l], expected_text(v[l]));
        return labels;
      };
      if (type == MetricType::kCounter) {
        auto& family = registry.counter(name, help, label_names);
        for (const auto& v : values) {
          family.labels(std::span<const std::string_view>(v)).inc(amount);
          totals[expected_labels(v)] += amount;
        }
      } else if (type == MetricType::kGauge) {
        if (!std::isfinite(gauge)) continue;
        auto& family = registry.gauge(name, help, label_names);
        for (const auto& v : values) {
          family.labels(std::span<const std::string_view>(v)).set(gauge);
          totals[expected_labels(v)] = gauge;
        }
      } else {
        auto& family = registry.histogram(name, help, label_names);
        for (const auto& v : values) {
          family.labels(std::span<const std::string_view>(v)).observe(static_cast<double>(amount));
          totals[expected_labels(v)] += 1;
        }
      }
      for (const auto& [labels, value] : totals) series.push_back({name, type, labels, value});
      helps.emplace_back(name, help);
    } catch (const monitoring::metrics::MetricError&) {
      // A refused name, label name or clash: nothing of this family is expected.
    }
  }
  check_format(registry, ExpositionFormat::kText, series, helps);
  check_format(registry, ExpositionFormat::kOpenMetrics, series, helps);
  return 0;
}
