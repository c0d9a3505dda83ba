#pragma once

// Small helpers shared by the metrics unit tests: reading samples back out of an exposition.

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace monitoring::metrics::test {

/// Parses an exposition number ("NaN", "+Inf", "-Inf" or a float); nullopt if malformed.
inline std::optional<double> parse_number(std::string_view text) {
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "+Inf") return std::numeric_limits<double>::infinity();
  if (text == "-Inf") return -std::numeric_limits<double>::infinity();
  double value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

/// The lines of `text` (without the '\n').
inline std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    lines.push_back(text.substr(0, newline));
    if (newline == std::string_view::npos) break;
    text.remove_prefix(newline + 1);
  }
  return lines;
}

/// The value of the sample line whose series part (name plus label set) is exactly `series`,
/// e.g. `requests_total{method="GET"}`; nullopt when the exposition has no such line.
inline std::optional<double> sample_value(std::string_view exposition, std::string_view series) {
  for (std::string_view line : lines_of(exposition)) {
    if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ')
      return parse_number(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

/// Like sample_value, 0 when absent (counters that were never touched).
inline double sample_or_zero(std::string_view exposition, std::string_view series) {
  return sample_value(exposition, series).value_or(0.0);
}

}  // namespace monitoring::metrics::test
