// Sentry's side of the catalog timers' span hooks (metrics::detail::TimerSpanHooks):
// PrometheusMetrics::track_time and timed open a child span of the active trace.

#include <memory>

#include "monitoring/catalog/tracing.hpp"

namespace monitoring::sentry::detail {
std::string describe_labels(const metrics::Labels& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out += ", ";
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

namespace {

void* open_timer_span(std::string_view kind, const metrics::Labels& labels, bool bind_to_thread) {
  try {
    Span span = start_span(kind, describe_labels(labels), bind_to_thread);
    if (!span.active()) return nullptr;  // no trace on this thread: a plain timer
    return new Span(std::move(span));
  } catch (...) {  // a timer never fails because tracing did
    return nullptr;
  }
}

void close_timer_span(void* opened, bool failed) noexcept {
  std::unique_ptr<Span> span(static_cast<Span*>(opened));
  try {
    if (failed) span->set_status("internal_error");
    span->finish();
  } catch (...) {
  }
}

// Static: spans opened while Sentry ran may end after it stopped.
constinit const metrics::detail::TimerSpanHooks kTimerSpanHooks{open_timer_span, close_timer_span};

}  // namespace

const metrics::detail::TimerSpanHooks& timer_span_hooks() noexcept {
  return kTimerSpanHooks;
}

}  // namespace monitoring::sentry::detail
