#pragma once

#include <cstdint>
#include <limits>

#include "monitoring/metrics/detail/cells.hpp"
#include "monitoring/metrics/detail/series_table.hpp"

namespace monitoring::metrics {

template <class T>
class Family;

namespace detail {
[[noreturn]] void throw_invalid_counter_increment(double value);
}

/// A monotonically increasing series of a counter family (`family.labels(...)`).
///
/// `inc` writes the calling thread's own cell: no lock, no atomic read-modify-write, no
/// allocation after the thread's first update. The reference stays valid as long as the
/// family, unless the series is removed with `Family::remove`.
class Counter : public detail::SeriesKey {
 public:
  /// Adds `amount` (default 1). Throws MetricError for a negative or non-finite amount.
  void inc(double amount = 1.0) {
    if (!(amount >= 0.0 && amount <= std::numeric_limits<double>::max())) [[unlikely]]
      detail::throw_invalid_counter_increment(amount);
    detail::local_add(offset_, amount);
  }

  /// The total over all threads. Takes the scrape lock; not for hot paths.
  double value() const { return detail::CellSpace::sum(offset_); }

  static constexpr std::uint32_t kCells = 1;
  std::uint32_t cell_offset() const noexcept { return offset_; }

 /// What a family passes to each new series (for histograms, the bucket bounds).
  struct Shape {};

 private:
  friend class Family<Counter>;
  Counter(std::span<const std::string_view> values, std::uint64_t hash, const Shape&)
      : SeriesKey(values, hash), offset_(detail::CellSpace::allocate(kCells)) {}
  std::uint32_t cell_width() const noexcept { return kCells; }

  std::uint32_t offset_;
};

}  // namespace monitoring::metrics
