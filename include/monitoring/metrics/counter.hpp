#pragma once

#include <concepts>
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
/// `inc` adds to the current CPU's cell (see detail/cells.hpp): no lock, no atomic
/// read-modify-write, no shared cache line, nothing per thread. Whole increments go to an integer
/// cell (the fast path), fractional amounts to a floating-point one; the exported value is their
/// sum. The reference stays valid as long as the family, unless the series is removed with
/// `Family::remove`.
class Counter : public detail::SeriesKey {
 public:
  /// Adds 1.
  void inc() { detail::add_count(offset_, 1); }
  /// Adds a whole amount. Throws MetricError when it is negative.
  template <std::integral Int>
  void inc(Int amount) {
    if constexpr (std::is_signed_v<Int>) {
      if (amount < 0) [[unlikely]]
        detail::throw_invalid_counter_increment(static_cast<double>(amount));
    }
    detail::add_count(offset_, static_cast<std::uint64_t>(amount));
  }
  /// Adds `amount`. Throws MetricError for a negative or non-finite amount.
  void inc(double amount) {
    if (!(amount >= 0.0 && amount <= std::numeric_limits<double>::max())) [[unlikely]]
      detail::throw_invalid_counter_increment(amount);
    detail::add_real(offset_ + 1, amount);
  }

  /// The total over all threads. Takes the scrape lock; not for hot paths.
  double value() const {
    double cells[kCells];
    detail::CellSpace::sum(offset_, kCells, kFirstReal, cells);
    return cells[0] + cells[1];
  }

  static constexpr std::uint32_t kCells = 2;  // whole count, fractional sum
  static constexpr std::uint32_t kFirstReal = 1;
  std::uint32_t cell_offset() const noexcept { return offset_; }

  /// What a family passes to each new series (for histograms, the bucket bounds).
  struct Shape {};

 private:
  friend class Family<Counter>;
  Counter(std::span<const std::string_view> values, std::uint64_t hash, const Shape&, char* storage)
      : SeriesKey(values, hash, storage),
        offset_(detail::CellSpace::allocate(kCells, kFirstReal)) {}
  std::uint32_t cell_width() const noexcept { return kCells; }

  std::uint32_t offset_;
};

}  // namespace monitoring::metrics
