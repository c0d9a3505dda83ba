#pragma once

// Prometheus text format 0.0.4 and OpenMetrics 1.0 writing, content negotiation and gzip.

#include <span>
#include <string>
#include <string_view>

#include "monitoring/metrics/exemplar.hpp"

namespace monitoring::metrics {

class Registry;
namespace detail {
class SeriesKey;
}

/// kInfo and kStateSet are OpenMetrics types; the text format shows both as gauges (an info
/// family "x" as gauge "x_info").
enum class MetricType { kCounter, kGauge, kHistogram, kUntyped, kInfo, kStateSet };

enum class ExpositionFormat {
  kText,         ///< text/plain; version=0.0.4
  kOpenMetrics,  ///< application/openmetrics-text; version=1.0.0 (ends with "# EOF")
};

/// The Content-Type header value for `format`.
std::string_view content_type(ExpositionFormat format) noexcept;

/// Picks the format a scraper asked for in its Accept header: the highest q-value wins, on a
/// tie the earlier entry; an absent or unsatisfiable header gets the text format. An element
/// whose q is not an RFC 9110 qvalue ("1.5", "-1", "nan", "0.0001") is ignored.
ExpositionFormat negotiate_format(std::string_view accept) noexcept;

/// True when an Accept-Encoding header allows gzip (q > 0, directly or through "*"). Elements
/// with an invalid q-value are ignored, as in negotiate_format.
bool accepts_gzip(std::string_view accept_encoding) noexcept;

/// gzip (RFC 1952) of `data`, for Content-Encoding: gzip.
std::string gzip_compress(std::string_view data, int level = 4);

/// Appends families and samples to a string in one exposition format, doing all escaping
/// and number formatting. Registries and custom collectors both write through it.
///
/// Call `family` once per metric family, then `sample` for each of its samples, then
/// `finish` once at the end (it writes OpenMetrics' "# EOF").
class MetricWriter {
 public:
  MetricWriter(std::string& out, ExpositionFormat format) : out_(out), format_(format) {}

  /// Writes the HELP and TYPE lines. `name` is the registered name; for a counter in
  /// OpenMetrics a trailing "_total" is dropped from the family name. The samples of an info
  /// family are named `name` + "_info" (so is the family in the text format).
  void family(std::string_view name, std::string_view help, MetricType type);

  /// One sample line: family name + `suffix`, the labels, the value. For a counter family
  /// the suffix is ignored and the OpenMetrics "_total" added. An optional extra label
  /// (histogram "le") goes last. Throws MetricError when names and values differ in number.
  void sample(std::string_view suffix, std::span<const std::string> label_names,
              std::span<const std::string> label_values, double value,
              std::string_view extra_label = {}, double extra_value = 0);

  /// The buckets, sum and count of one histogram series. `cumulative` has one count per
  /// bound plus the +Inf count. Throws MetricError when the spans do not fit together.
  ///
  /// `exemplars`, when not empty, has one entry per bucket like `cumulative`; in OpenMetrics
  /// each non-empty one follows its bucket's count (`# {trace_id="..."} value timestamp`).
  /// The text format ignores them. An exemplar OpenMetrics forbids is left out so the scrape
  /// stays valid: labels over 128 code points, or a value above the bucket's bound.
  void histogram(std::span<const std::string> label_names,
                 std::span<const std::string> label_values, std::span<const double> bounds,
                 std::span<const double> cumulative, double sum,
                 std::span<const Exemplar> exemplars = {});

  /// `sample` and `histogram` for a series of a registered family: its label values are
  /// stored escaped already, so they are copied, not scanned.
  void series_sample(std::span<const std::string> label_names, const detail::SeriesKey& series,
                     double value);
  void series_histogram(std::span<const std::string> label_names, const detail::SeriesKey& series,
                        std::span<const double> bounds, std::span<const double> cumulative,
                        double sum, std::span<const Exemplar> exemplars = {});

  void finish();

  ExpositionFormat format() const noexcept { return format_; }

 private:
  // Grows out_ by `room` bytes and returns where they start; commit() trims to the bytes
  // actually written. Lines are written through a raw pointer: one size check per line.
  char* reserve_tail(std::size_t room);
  void commit(const char* end);
  void histogram_lines(std::string_view label_pairs, std::span<const double> bounds,
                       std::span<const double> cumulative, double sum,
                       std::span<const Exemplar> exemplars);

  std::string& out_;
  ExpositionFormat format_;
  std::string name_;            // family name of the current family
  std::string counter_sample_;  // sample name when the current family is a counter
  MetricType type_ = MetricType::kUntyped;
  std::string label_pairs_;  // histogram: the escaped labels shared by a series' lines
};

/// Renders a whole registry.
std::string serialize(const Registry& registry, ExpositionFormat format = ExpositionFormat::kText);

}  // namespace monitoring::metrics
