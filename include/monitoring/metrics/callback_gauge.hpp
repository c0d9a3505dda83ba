#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "monitoring/metrics/family.hpp"

namespace monitoring::metrics {

/// A gauge family whose series are read at scrape time from a function (queue depth, pool
/// size, cache entries): nothing has to push the value on every change, and the scrape sees
/// the value as of the scrape. Register with Registry::callback_gauge(), then bind() a
/// function per label set.
///
/// A function runs on the scraping thread, outside the registry's locks (it may update or
/// register other metrics, and bind, but not unbind its own family: unbind waits for it). One that
/// throws or returns NaN/an infinity loses only its own series for that scrape: the scrape still
/// succeeds, and the failure is counted in `monitoring_metric_callback_errors_total{metric}`. A
/// function must not block: the scrape (and Prometheus' scrape timeout) waits for it.
class CallbackGauge final : public FamilyBase {
 public:
  using Function = std::function<double()>;

  /// Reads the series with these label values (in label-name order) from `fn`; a second
  /// bind of the same values replaces the function. Throws MetricError for an empty `fn` or
  /// a wrong number of values.
  void bind(std::span<const std::string_view> values, Function fn);
  void bind(std::initializer_list<std::string_view> values, Function fn) {
    bind(std::span<const std::string_view>(values.begin(), values.size()), std::move(fn));
  }
  /// Stops exposing the series; once it returns no scrape is still calling the function, so
  /// the objects it reads may go. False when nothing was bound to these values.
  bool unbind(std::span<const std::string_view> values);
  bool unbind(std::initializer_list<std::string_view> values) {
    return unbind(std::span<const std::string_view>(values.begin(), values.size()));
  }

  void collect(MetricWriter& writer) const override;
  std::size_t size() const override;
  bool runs_user_code() const noexcept override { return true; }

 private:
  friend class Registry;
  CallbackGauge(std::string name, std::string help, std::vector<std::string> labels,
                std::size_t limit);

  struct Binding {
    std::vector<std::string> values;
    std::shared_ptr<const Function> fn;  // shared: a scrape calls it after dropping the lock
  };
  mutable std::mutex mutex_;        // guards bindings_
  mutable std::mutex calls_mutex_;  // held by a scrape while it calls the functions
  std::vector<Binding> bindings_;
};

}  // namespace monitoring::metrics
