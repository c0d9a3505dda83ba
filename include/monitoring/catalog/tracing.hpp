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
/// The span a catalog timer of `kind` opens: a child of the thread's active span, else, for
/// http and bot_handler while Sentry runs, a transaction of its own (see
/// PrometheusMetrics::track_time); else an inactive span.
Span start_timer_span(std::string_view kind, const metrics::Labels& labels, bool bind_to_thread);
/// Hooks that make catalog timers child spans; setup_monitoring installs them with
/// metrics::detail::set_timer_span_hooks while Sentry runs.
const metrics::detail::TimerSpanHooks& timer_span_hooks() noexcept;
}  // namespace detail

/// PrometheusMetrics::track_time with its span (a child of the thread's active span, or the
/// transaction http and bot_handler start) in hand, also when Sentry was started without
/// setup_monitoring.
inline TimedSpan track_time(std::string_view kind, const metrics::Labels& labels = {}) {
  // A plain timer: the span is this one (no second span from the catalog's hooks).
  metrics::ScopedTimer timer(metrics::detail::timer_series(kind, labels));
  return TimedSpan(std::move(timer), detail::start_timer_span(kind, labels, true));
}

/// PrometheusMetrics::timed with spans and transactions as track_time, also when Sentry was
/// started without setup_monitoring.
template <class Fn>
auto timed(std::string_view kind, const metrics::Labels& labels, Fn fn) {
  metrics::Histogram& series = metrics::detail::timer_series(kind, labels);
  return metrics::detail::time_calls_with(
      [&series, kind = std::string(kind), labels](bool bind_to_thread) {
        const metrics::detail::TimerSpanHooks& hooks = detail::timer_span_hooks();
        return metrics::ScopedTimer(series, &hooks, hooks.open(kind, labels, bind_to_thread));
      },
      std::move(fn));
}

}  // namespace monitoring::sentry
