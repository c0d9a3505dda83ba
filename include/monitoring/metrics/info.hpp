#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "monitoring/metrics/family.hpp"

namespace monitoring::metrics {

/// Facts about the running program that have no numeric value (version, compiler, build type)
/// as label pairs on one constant sample, `<name>_info{version="1.2.0",...} 1`: a dashboard
/// joins them onto other series instead of every series carrying them. OpenMetrics type
/// `info`; in the text format a gauge named `<name>_info`. Register with Registry::info().
class Info final : public FamilyBase {
 public:
  using Pairs = std::vector<std::pair<std::string, std::string>>;

  /// Replaces all pairs at once (a scrape sees the old set or the new one, never a mix).
  /// Throws MetricError for an invalid or reserved label name ("__*", "le", "quantile"), a
  /// name given twice, or an empty value (Prometheus drops a label with an empty value, so it
  /// would vanish without a trace); values are any text (invalid UTF-8 shows as U+FFFD).
  void set(Pairs pairs);
  Pairs pairs() const;

  void collect(MetricWriter& writer) const override;
  std::size_t size() const override { return 1; }

 private:
  friend class Registry;
  Info(std::string name, std::string help, std::size_t limit);

  mutable std::mutex mutex_;
  std::vector<std::string> names_;
  std::vector<std::string> values_;
};

}  // namespace monitoring::metrics
