// Sentry's side of the catalog timers' span hooks (metrics::detail::TimerSpanHooks):
// PrometheusMetrics::track_time and timed open a child span of the active trace, and the
// timers that stand for a whole unit of work (a request, a bot update) start a transaction
// of their own when no trace is active, as Sentry's server integrations do per request.

#include <memory>
#include <optional>
#include <string>

#include "monitoring/catalog/tracing.hpp"
#include "monitoring/context.hpp"
#include "monitoring/sentry/client.hpp"

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

std::string_view label(const metrics::Labels& labels, std::string_view name) {
  for (const auto& [key, value] : labels)
    if (key == name) return value;
  return {};
}

/// Name and op of the transaction a timer kind starts, or nullopt for the kinds that are
/// steps inside one (payment, panel_api).
struct EntryPoint {
  std::string name;
  std::string_view op;
};
std::optional<EntryPoint> entry_point(std::string_view kind, const metrics::Labels& labels) {
  if (kind == "http") {
    // Sentry names server transactions by method and route ("POST /webhook"): the route
    // template groups requests, where the concrete URL would make one transaction per id.
    const std::string_view method = label(labels, "method");
    const std::string_view endpoint = label(labels, "endpoint");
    std::string name(method);
    if (!name.empty() && !endpoint.empty()) name += ' ';
    name += endpoint;
    if (name.empty()) return std::nullopt;
    return EntryPoint{std::move(name), "http.server"};
  }
  if (kind == "bot_handler") {
    const std::string_view handler = label(labels, "handler");
    if (handler.empty()) return std::nullopt;
    return EntryPoint{std::string(handler), "bot.handler"};
  }
  return std::nullopt;
}

/// A timer's span and whether it is the thread's active span (then the thread's context
/// already names it when the timer observes).
struct TimerSpan {
  Span span;
  bool bound = false;
};

void* open_timer_span(std::string_view kind, const metrics::Labels& labels, bool bind_to_thread) {
  try {
    Span span = start_timer_span(kind, labels, bind_to_thread);
    if (!span.active()) return nullptr;  // no trace and no transaction of its own
    return new TimerSpan{std::move(span), bind_to_thread};
  } catch (...) {  // a timer never fails because tracing did
    return nullptr;
  }
}

void close_timer_span(void* opened, bool failed, metrics::Histogram* series,
                      double seconds) noexcept {
  std::unique_ptr<TimerSpan> timer(static_cast<TimerSpan*>(opened));
  if (series != nullptr) {
    // The exemplar names the timer's span if Sentry receives its trace: a sampled-out trace id
    // would link a latency graph to nothing. A span that is not the thread's (a coroutine's,
    // or one that ends in a callback on another thread) is the context of the observation only.
    ContextScope trace;
    try {
      if (!timer->span.sampled())
        trace = context::with_trace({}, {});
      else if (!timer->bound)
        trace = context::with_trace(timer->span.trace_id(), timer->span.span_id());
    } catch (...) {  // out of memory: the observation counts, its exemplar may differ
    }
    series->observe(seconds);
  }
  try {
    if (failed) timer->span.set_status("internal_error");
    timer->span.finish();
  } catch (...) {
  }
}

// Static: spans opened while Sentry ran may end after it stopped.
constinit const metrics::detail::TimerSpanHooks kTimerSpanHooks{open_timer_span, close_timer_span};

}  // namespace

Span start_timer_span(std::string_view kind, const metrics::Labels& labels, bool bind_to_thread) {
  Span span = start_span(kind, describe_labels(labels), bind_to_thread);
  if (span.active() || !is_enabled()) return span;
  std::optional<EntryPoint> entry = entry_point(kind, labels);
  if (!entry) return span;
  return start_transaction(entry->name, entry->op, {}, {}, bind_to_thread);
}

const metrics::detail::TimerSpanHooks& timer_span_hooks() noexcept {
  return kTimerSpanHooks;
}

}  // namespace monitoring::sentry::detail
