#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <utility>

#include "monitoring/metrics/detail/series_table.hpp"

namespace monitoring::metrics {

template <class T>
class Family;

namespace detail {
[[noreturn]] void throw_non_finite_gauge(double value);
double wall_clock_seconds() noexcept;
}  // namespace detail

/// A series of a gauge family: a value that goes up and down. `set` is a single relaxed
/// store (last writer wins, as gauges require); `inc`/`dec` are atomic adds.
class Gauge : public detail::SeriesKey {
 public:
  /// Throws MetricError for NaN or an infinity.
  void set(double value) {
    check(value);
    value_.store(value, std::memory_order_relaxed);
  }
  void inc(double amount = 1.0) {
    check(amount);
    value_.fetch_add(amount, std::memory_order_relaxed);
  }
  void dec(double amount = 1.0) {
    check(amount);
    value_.fetch_sub(amount, std::memory_order_relaxed);
  }
  /// Sets the gauge to the current Unix time in seconds.
  void set_to_current_time() {
    value_.store(detail::wall_clock_seconds(), std::memory_order_relaxed);
  }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

  /// Counts the caller in until the returned guard goes away (scope exit, exception or
  /// not): `auto inside = requests_in_progress.track_inprogress();`. One atomic add each way.
  class InProgress;
  [[nodiscard]] InProgress track_inprogress() noexcept;

  /// What a family passes to each new series (for histograms, the bucket bounds).
  struct Shape {};

 private:
  friend class Family<Gauge>;
  Gauge(std::span<const std::string_view> values, std::uint64_t hash, const Shape&, char* storage)
      : SeriesKey(values, hash, storage) {}
  static void check(double v) {
    if (!(v >= -std::numeric_limits<double>::max() && v <= std::numeric_limits<double>::max()))
        [[unlikely]]
      detail::throw_non_finite_gauge(v);
  }
  std::uint32_t cell_width() const noexcept { return 0; }
  void reset() noexcept { value_.store(0.0, std::memory_order_relaxed); }

  std::atomic<double> value_{0.0};
};

/// Keeps a gauge one higher while it lives (Gauge::track_inprogress). Movable, so a guard can
/// be handed to a coroutine or a callback that ends the work.
class Gauge::InProgress {
 public:
  explicit InProgress(Gauge& gauge) noexcept : gauge_(&gauge) {
    gauge_->value_.fetch_add(1.0, std::memory_order_relaxed);
  }
  InProgress(InProgress&& other) noexcept : gauge_(std::exchange(other.gauge_, nullptr)) {}
  InProgress& operator=(InProgress&& other) noexcept {
    if (this != &other) {
      release();
      gauge_ = std::exchange(other.gauge_, nullptr);
    }
    return *this;
  }
  InProgress(const InProgress&) = delete;
  InProgress& operator=(const InProgress&) = delete;
  ~InProgress() { release(); }

  /// Counts the caller out now instead of at destruction; later calls do nothing.
  void release() noexcept {
    if (gauge_ != nullptr)
      std::exchange(gauge_, nullptr)->value_.fetch_sub(1.0, std::memory_order_relaxed);
  }

 private:
  Gauge* gauge_;
};

inline Gauge::InProgress Gauge::track_inprogress() noexcept {
  return InProgress(*this);
}

}  // namespace monitoring::metrics
