#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "monitoring/metrics/callback_gauge.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/family.hpp"
#include "monitoring/metrics/info.hpp"
#include "monitoring/metrics/stateset.hpp"

namespace monitoring::metrics {

/// Produces metric families at scrape time (process metrics, values owned elsewhere).
/// `collect` runs on the scraping thread and writes through the MetricWriter.
class Collector {
 public:
  virtual ~Collector() = default;
  virtual void collect(MetricWriter& writer) const = 0;
};

/// A set of metric families, exposed together.
///
/// Registration validates names (Prometheus rules; `__` is reserved) and is idempotent:
/// asking again for a family with the same name, type, labels (and buckets) returns the same
/// family, anything else with that name throws MetricError. So does a name whose samples
/// would clash with another family's in either format (counter "x_total" and gauge "x" are
/// both family "x" in OpenMetrics; gauge "h_count" collides with histogram "h"). Families
/// live as long as the registry; references to them and to their series stay valid.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// The process-wide registry the catalog (PrometheusMetrics, CustomMetrics), the process
  /// metrics and the library's own metrics live in; /metrics serves it.
  static Registry& default_registry();

  Family<Counter>& counter(std::string name, std::string help,
                           std::vector<std::string> label_names = {});
  Family<Gauge>& gauge(std::string name, std::string help,
                       std::vector<std::string> label_names = {});
  /// `buckets`: strictly increasing finite upper bounds; a trailing +Inf is implied.
  Family<Histogram>& histogram(std::string name, std::string help,
                               std::vector<std::string> label_names = {},
                               std::vector<double> buckets = default_buckets());

  /// An info family exposed as `<name>_info` (so `name` must not end in "_info"), with no
  /// pairs until Info::set(). Asking again for the same name returns the same family.
  Info& info(std::string name, std::string help);
  /// A state set over `states` (non-empty, distinct, non-empty strings), all off at first.
  /// The family name doubles as the state label's name, so it must also be a valid label name
  /// (no ':'). Asking again with the same states returns the same family.
  StateSet& state_set(std::string name, std::string help, std::vector<std::string> states);
  /// A gauge family read from functions at scrape time (see CallbackGauge). Asking again with
  /// the same label names returns the same family; a plain gauge of that name is a clash.
  CallbackGauge& callback_gauge(std::string name, std::string help,
                                std::vector<std::string> label_names = {});

  /// Adds a collector; adding the same collector object again does nothing.
  void add_collector(std::shared_ptr<const Collector> collector);

  /// Cardinality limit for families registered from now on (default kDefaultSeriesLimit).
  void set_default_series_limit(std::size_t limit);

  /// Writes every family, then every collector, through `writer` (without `finish`).
  void collect(MetricWriter& writer) const;

  std::size_t family_count() const;

 private:
  FamilyBase& find_or_add(std::string name, std::string help, MetricType type,
                          std::vector<std::string> labels, std::vector<double> buckets);
  /// Registers a family built outside find_or_add, or returns the registered one of that
  /// name when `same` accepts it (throws MetricError otherwise, or on a clash).
  FamilyBase& adopt(std::unique_ptr<FamilyBase> family,
                    const std::function<bool(const FamilyBase&)>& same);
  void check_no_clash_locked(const std::string& name, MetricType type) const;

  struct Entry {
    std::unique_ptr<FamilyBase> family;
    std::vector<double> buckets;  // histograms: the bounds their series point into
  };

  mutable std::mutex mutex_;
  std::vector<Entry> entries_;  // registration order = exposition order
  std::vector<std::shared_ptr<const Collector>> collectors_;
  std::size_t default_limit_ = kDefaultSeriesLimit;
};

/// Checks a metric name against [a-zA-Z_:][a-zA-Z0-9_:]* (no leading "__"); throws MetricError.
void validate_metric_name(std::string_view name);
/// Checks a label name against [a-zA-Z_][a-zA-Z0-9_]* (no leading "__"); throws MetricError.
void validate_label_name(std::string_view name);

}  // namespace monitoring::metrics
