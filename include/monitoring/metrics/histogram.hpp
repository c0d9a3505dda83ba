#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <vector>

#include "monitoring/detail/trace_state.hpp"
#include "monitoring/metrics/detail/cells.hpp"
#include "monitoring/metrics/detail/series_table.hpp"
#include "monitoring/metrics/exemplar.hpp"

namespace monitoring::metrics {

template <class T>
class Family;

namespace detail {
[[noreturn]] void throw_non_finite_observation(double value);
struct ExemplarSlot;
}  // namespace detail

/// The Prometheus client default buckets (seconds): .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10.
std::vector<double> default_buckets();
/// `count` buckets: start, start*factor, ...
std::vector<double> exponential_buckets(double start, double factor, std::size_t count);
/// `count` buckets: start, start+width, ...
std::vector<double> linear_buckets(double start, double width, std::size_t count);

/// A series of a histogram family. Each CPU counts into its own cells (an integer per
/// bucket and +Inf, a double for the sum); the count is the bucket total, so `_count` always
/// equals the `le="+Inf"` bucket in the exposition.
///
/// An observation made while the thread's context has an active trace also becomes the
/// bucket's exemplar (see Exemplar), shown in the OpenMetrics exposition. Without a trace that
/// costs one thread-local load and a branch.
class Histogram : public detail::SeriesKey {
 public:
  ~Histogram();

  /// Records one observation. Throws MetricError for NaN or an infinity.
  void observe(double value) {
    if (!(value >= -std::numeric_limits<double>::max() &&
          value <= std::numeric_limits<double>::max())) [[unlikely]]
      detail::throw_non_finite_observation(value);
    std::uint32_t bucket = 0;
    if (bucket_count_ <= 16) {
      while (bucket < bucket_count_ && value > bounds_[bucket]) ++bucket;
    } else {
      bucket = static_cast<std::uint32_t>(
          std::lower_bound(bounds_, bounds_ + bucket_count_, value) - bounds_);
    }
    detail::add_count(offset_ + bucket, 1);
    detail::add_real(offset_ + bucket_count_ + 1, value);
    if (const monitoring::detail::ContextData* trace = monitoring::detail::tls_trace) [[unlikely]]
      record_exemplar(bucket, value, *trace);
  }

  struct Snapshot {
    std::vector<double> cumulative_counts;  // one per bound, then +Inf
    double sum = 0;
    double count() const { return cumulative_counts.empty() ? 0 : cumulative_counts.back(); }
  };
  /// Totals over all threads. Takes the scrape lock; not for hot paths.
  Snapshot snapshot() const;
  std::span<const double> bounds() const noexcept { return {bounds_, bucket_count_}; }

  /// The latest exemplar of each bucket: one entry per bound, then +Inf; an empty entry where
  /// no traced observation landed. Safe while other threads observe.
  std::vector<Exemplar> exemplars() const;
  /// Like exemplars(), reusing `out`'s strings (a scrape calls it for every series). Returns
  /// false and leaves `out` alone when the series was never observed under a trace.
  bool read_exemplars(std::vector<Exemplar>& out) const;

  std::uint32_t cell_offset() const noexcept { return offset_; }

  /// What a family passes to each new series (for histograms, the bucket bounds).
  struct Shape {
    const double* bounds;
    std::uint32_t count;
  };

 private:
  friend class Family<Histogram>;
  Histogram(std::span<const std::string_view> values, std::uint64_t hash, const Shape& shape,
            char* storage)
      : SeriesKey(values, hash, storage),
        bounds_(shape.bounds),
        bucket_count_(shape.count),
        offset_(detail::CellSpace::allocate(shape.count + 2, shape.count + 1)) {}
  std::uint32_t cell_width() const noexcept { return bucket_count_ + 2; }
  // Out of line: the traced path is rare and larger (exemplars.cpp).
  void record_exemplar(std::uint32_t bucket, double value,
                       const monitoring::detail::ContextData& trace) noexcept;
  // Forgets every exemplar (Family::remove; no concurrent observe of this series).
  void clear_exemplars() noexcept;

  const double* bounds_;
  std::uint32_t bucket_count_;
  std::uint32_t offset_;
  // One slot per bucket and +Inf, allocated by the first traced observation: a series that
  // never sees a trace pays for this pointer only.
  std::atomic<detail::ExemplarSlot*> exemplars_{nullptr};
};

}  // namespace monitoring::metrics
