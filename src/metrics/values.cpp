// Error paths and helpers of the series classes, out of line to keep the hot paths small.

#include <chrono>
#include <cmath>
#include <string>

#include "monitoring/error.hpp"
#include "monitoring/metrics/counter.hpp"
#include "monitoring/metrics/gauge.hpp"
#include "monitoring/metrics/histogram.hpp"

namespace monitoring::metrics {

namespace {
std::string describe(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return std::to_string(value);
}
}  // namespace

namespace detail {

void throw_invalid_counter_increment(double value) {
  throw MetricError("counter increment must be finite and non-negative, got " + describe(value));
}

void throw_non_finite_gauge(double value) {
  throw MetricError("gauge value must be finite, got " + describe(value));
}

void throw_non_finite_observation(double value) {
  throw MetricError("histogram observation must be finite, got " + describe(value));
}

double wall_clock_seconds() noexcept {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace detail

std::vector<double> default_buckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> exponential_buckets(double start, double factor, std::size_t count) {
  if (!(start > 0) || !std::isfinite(start))
    throw MetricError("exponential buckets need a positive start, got " + describe(start));
  if (!(factor > 1) || !std::isfinite(factor))
    throw MetricError("exponential buckets need a factor above 1, got " + describe(factor));
  if (count == 0) throw MetricError("exponential buckets need a count of at least 1");
  std::vector<double> buckets;
  for (double bound = start; buckets.size() < count; bound *= factor) buckets.push_back(bound);
  return buckets;
}

std::vector<double> linear_buckets(double start, double width, std::size_t count) {
  if (!std::isfinite(start))
    throw MetricError("linear buckets need a finite start, got " + describe(start));
  if (!(width > 0) || !std::isfinite(width))
    throw MetricError("linear buckets need a positive width, got " + describe(width));
  if (count == 0) throw MetricError("linear buckets need a count of at least 1");
  std::vector<double> buckets;
  for (std::size_t i = 0; i < count; ++i) buckets.push_back(start + width * static_cast<double>(i));
  return buckets;
}

Histogram::Snapshot Histogram::snapshot() const {
  std::vector<double> cells(bucket_count_ + 2);
  detail::CellSpace::sum(offset_, bucket_count_ + 2, bucket_count_ + 1, cells.data());
  Snapshot result;
  result.sum = cells[bucket_count_ + 1];
  result.cumulative_counts.assign(cells.begin(), cells.begin() + bucket_count_ + 1);
  for (std::size_t i = 1; i < result.cumulative_counts.size(); ++i)
    result.cumulative_counts[i] += result.cumulative_counts[i - 1];
  return result;
}

}  // namespace monitoring::metrics
