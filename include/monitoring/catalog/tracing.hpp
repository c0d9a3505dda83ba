#pragma once

// Catalog timers that are also Sentry spans: sentry::track_time and sentry::timed time into
// the 2GETPRO histograms and open a child span of the active trace (op = the timer kind).

#include <string>
#include <string_view>
#include <utility>

#include "monitoring/catalog/catalog.hpp"
#include "monitoring/sentry/tracing.hpp"

namespace monitoring::sentry {

/// A metrics timer (PrometheusMetrics::track_time) and a span (op = the kind) in one.
class TimedSpan {
 public:
  TimedSpan(metrics::ScopedTimer timer, Span span) noexcept
      : span_(std::move(span)), timer_(std::move(timer)) {}
  Span& span() noexcept { return span_; }
  metrics::ScopedTimer& timer() noexcept { return timer_; }

 private:
  Span span_;
  metrics::ScopedTimer timer_;  // declared last: observes first, while the span is active
};

namespace detail {
/// "payment_system=yookassa" from the labels, for span descriptions.
std::string describe_labels(const metrics::Labels& labels);
/// Hooks that make catalog timers child spans; setup_monitoring installs them with
/// metrics::detail::set_timer_span_hooks while Sentry runs.
const metrics::detail::TimerSpanHooks& timer_span_hooks() noexcept;
}  // namespace detail

/// PrometheusMetrics::track_time plus a child span of the thread's active span, also when
/// Sentry was started without setup_monitoring.
inline TimedSpan track_time(std::string_view kind, const metrics::Labels& labels = {}) {
  // A plain timer: the span is this one (no second span from the catalog's hooks).
  metrics::ScopedTimer timer(metrics::detail::timer_series(kind, labels));
  return TimedSpan(std::move(timer), start_span(kind, detail::describe_labels(labels)));
}

/// PrometheusMetrics::timed plus a span per call (see traced).
template <class Fn>
auto timed(std::string_view kind, const metrics::Labels& labels, Fn fn) {
  return metrics::time_calls(
      metrics::detail::timer_series(kind, labels),
      traced(std::string(kind), detail::describe_labels(labels), std::move(fn)));
}

}  // namespace monitoring::sentry
