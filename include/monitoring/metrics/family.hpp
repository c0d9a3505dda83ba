#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "monitoring/metrics/counter.hpp"
#include "monitoring/metrics/detail/series_table.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/gauge.hpp"
#include "monitoring/metrics/histogram.hpp"

namespace monitoring::metrics {

namespace detail {
class CellSpaceReaderRef;
[[noreturn]] void throw_label_count(std::string_view family, std::size_t expected, std::size_t got);
/// Counts a series refused by a family's cardinality limit (library metric, default registry).
void count_refused_series(std::string_view family);
}  // namespace detail

/// Default per-family cardinality limit. Past it, new label sets are refused: `labels()`
/// returns an unexported overflow series (updates are discarded), the refusal is counted in
/// `monitoring_metric_series_refused_total{metric}`, and nothing throws on the hot path.
inline constexpr std::size_t kDefaultSeriesLimit = 10000;

/// The shared part of every family: name, help, label names, cardinality limit.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const noexcept { return name_; }
  const std::string& help() const noexcept { return help_; }
  MetricType type() const noexcept { return type_; }
  const std::vector<std::string>& label_names() const noexcept { return label_names_; }

  std::size_t series_limit() const noexcept { return limit_; }
  /// Changes the cardinality limit; series already present stay.
  void set_series_limit(std::size_t limit);

  /// Writes this family (HELP, TYPE and every series). Called by the registry during a scrape.
  virtual void collect(MetricWriter& writer) const = 0;
  virtual std::size_t size() const = 0;
  /// True when collect() calls application functions (CallbackGauge): the registry collects
  /// such a family without holding the scrape's cell lock, which those functions could need.
  virtual bool runs_user_code() const noexcept { return false; }

 protected:
  FamilyBase(std::string name, std::string help, MetricType type, std::vector<std::string> labels,
             std::size_t limit);

  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
  std::size_t limit_;
};

/// A metric family: one series per distinct tuple of label values.
///
/// `labels(values...)` finds or creates the series; the lookup is lock-free (a hash probe),
/// only the creation of a new series takes the family's mutex. Keep the returned reference
/// when the labels are fixed ("bound" series) to skip even the lookup.
template <class T>
class Family final : public FamilyBase {
 public:
  using Shape = typename T::Shape;

  Family(std::string name, std::string help, MetricType type, std::vector<std::string> labels,
         std::size_t limit, Shape shape = {})
      : FamilyBase(std::move(name), std::move(help), type, std::move(labels), limit),
        shape_(shape) {}
  ~Family() override;

  /// The series for these label values, in the order of the label names. Throws MetricError
  /// when the number of values is wrong. Values are kept as the exposition shows them, invalid
  /// UTF-8 replaced by U+FFFD: values that differ only in invalid bytes are one series.
  T& labels(std::span<const std::string_view> values) {
    if (values.size() != label_names_.size()) [[unlikely]]
      detail::throw_label_count(name_, label_names_.size(), values.size());
    const std::uint64_t hash = detail::hash_label_values(values);
    if (detail::SeriesKey* key = table_.find(values, hash)) [[likely]]
      return static_cast<T&>(*key);
    return create(values, hash);
  }
  T& labels(std::initializer_list<std::string_view> values) {
    return labels(std::span<const std::string_view>(values.begin(), values.size()));
  }
  template <class... V>
  requires(std::is_convertible_v<const V&, std::string_view>&&...) T& labels(const V&... values) {
    const std::string_view array[sizeof...(V) == 0 ? 1 : sizeof...(V)] = {
        std::string_view(values)...};
    return labels(std::span<const std::string_view>(array, sizeof...(V)));
  }

  /// Removes a series; it is no longer exported and its reference becomes dangling. Returns
  /// false when no such series exists. Must not race with updates of that same series.
  bool remove(std::span<const std::string_view> values);
  bool remove(std::initializer_list<std::string_view> values) {
    return remove(std::span<const std::string_view>(values.begin(), values.size()));
  }

  /// Calls `fn(const T&)` for every series, in creation order, under the family's mutex.
  template <class Fn>
  void for_each(Fn&& fn) const {
    std::lock_guard lock(mutex_);
    for (const auto& series : series_)
      if (series) fn(static_cast<const T&>(*series));
  }

  std::size_t size() const override {
    std::lock_guard lock(mutex_);
    return table_.size();
  }
  void collect(MetricWriter& writer) const override;

 private:
  T& create(std::span<const std::string_view> values, std::uint64_t hash);
  /// A new series with its label storage behind it, in one allocation.
  std::unique_ptr<T> make_series(std::span<const std::string_view> values,
                                 std::uint64_t hash) const;

  Shape shape_;
  mutable std::mutex mutex_;
  detail::SeriesTable table_;
  std::vector<std::unique_ptr<T>> series_;   // creation order; removed entries are null
  std::vector<std::unique_ptr<T>> retired_;  // removed, kept alive for racing lock-free readers
  std::unique_ptr<T> overflow_;              // returned past the cardinality limit
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

}  // namespace monitoring::metrics
