#pragma once

// The 2GETPRO metric catalog: PrometheusMetrics, CustomMetrics and the timers.
// Every family lives in Registry::default_registry(); the names and labels are a contract.

#include <atomic>
#include <chrono>
#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "monitoring/core/awaitable.hpp"
#include "monitoring/metrics/histogram.hpp"

namespace monitoring::metrics {

/// Label name -> value pairs: {{"payment_system", "yookassa"}}.
using Labels = std::vector<std::pair<std::string, std::string>>;

namespace detail {
/// How catalog timers open trace spans. The metrics layer knows nothing else of tracing:
/// setup_monitoring installs Sentry's hooks while Sentry runs (op = the timer kind,
/// description = the labels), so PrometheusMetrics::track_time and timed also become spans,
/// and the kinds http and bot_handler start a transaction when no trace is active.
struct TimerSpanHooks {
  /// A span for the timed work, or nullptr (no trace). `bind_to_thread`: the span is the
  /// thread's active span while it runs (false for coroutines and track_time_async).
  void* (*open)(std::string_view kind, const Labels& labels, bool bind_to_thread);
  /// Observes `seconds` into `series` (unless null: a cancelled timer) with the span as the
  /// exemplar's trace, bound or not, then ends the span; `failed` when the timed work threw.
  void (*close)(void* span, bool failed, Histogram* series, double seconds) noexcept;
};
/// Installs (or, with nullptr, removes) the hooks. They must outlive every span they open.
inline std::atomic<const TimerSpanHooks*> g_timer_span_hooks{nullptr};
inline void set_timer_span_hooks(const TimerSpanHooks* hooks) noexcept {
  g_timer_span_hooks.store(hooks, std::memory_order_release);
}
}  // namespace detail

/// Observes the seconds from construction to destruction (or `stop()`) into one histogram
/// series, and ends the trace span it was given, if any. Movable; a moved-from timer
/// observes nothing.
class ScopedTimer {
 public:
  explicit ScopedTimer(Histogram& series) noexcept
      : series_(&series), start_(std::chrono::steady_clock::now()) {}
  /// Also ends `span` (opened by `hooks`) when the timer stops: as failed if an exception is
  /// unwinding through the timer's scope then.
  ScopedTimer(Histogram& series, const detail::TimerSpanHooks* hooks, void* span) noexcept
      : series_(&series),
        start_(std::chrono::steady_clock::now()),
        hooks_(span != nullptr ? hooks : nullptr),
        span_(span),
        exceptions_at_start_(std::uncaught_exceptions()) {}
  ScopedTimer(ScopedTimer&& other) noexcept
      : series_(std::exchange(other.series_, nullptr)),
        start_(other.start_),
        hooks_(std::exchange(other.hooks_, nullptr)),
        span_(std::exchange(other.span_, nullptr)),
        exceptions_at_start_(other.exceptions_at_start_),
        failed_(other.failed_) {}
  ScopedTimer& operator=(ScopedTimer&&) = delete;
  ScopedTimer(const ScopedTimer&) = delete;
  ~ScopedTimer() { stop(); }

  /// Observes now; later calls and the destructor do nothing. Returns the seconds observed.
  double stop() noexcept {
    if (series_ == nullptr) {
      end_span(nullptr, 0);
      return 0;
    }
    const double seconds = elapsed();
    Histogram* series = std::exchange(series_, nullptr);
    if (span_ == nullptr) [[likely]]
      series->observe(seconds);
    else
      end_span(series, seconds);  // observes before the span ends: the exemplar names it
    return seconds;
  }
  /// Ends the span, if any, as failed (internal_error) although no exception is unwinding:
  /// the outcome of asynchronous work, such as a request answered with a 5xx status.
  void mark_failed() noexcept { failed_ = true; }
  /// Drops the measurement (a span, if any, still ends).
  void cancel() noexcept {
    series_ = nullptr;
    end_span(nullptr, 0);
  }
  double elapsed() const noexcept {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  void end_span(Histogram* series, double seconds) noexcept {
    if (span_ == nullptr) [[likely]]
      return;
    hooks_->close(std::exchange(span_, nullptr),
                  failed_ || std::uncaught_exceptions() > exceptions_at_start_, series, seconds);
  }

  Histogram* series_;
  std::chrono::steady_clock::time_point start_;
  const detail::TimerSpanHooks* hooks_ = nullptr;
  void* span_ = nullptr;
  int exceptions_at_start_ = 0;
  bool failed_ = false;
};

namespace detail {
/// Resolves a timer kind (http, bot_handler, payment, panel_api) and its labels to a series.
/// Throws MetricError for an unknown kind, a missing or an unexpected label.
Histogram& timer_series(std::string_view kind, const Labels& labels);

/// A catalog timer on `series`, plus a span when tracing hooks are installed and a trace is
/// active.
inline ScopedTimer start_catalog_timer(Histogram& series, std::string_view kind,
                                       const Labels& labels, bool bind_to_thread) {
  const TimerSpanHooks* hooks = g_timer_span_hooks.load(std::memory_order_acquire);
  if (hooks == nullptr) [[likely]]
    return ScopedTimer(series);
  return ScopedTimer(series, hooks, hooks->open(kind, labels, bind_to_thread));
}

/// Wraps `fn` so each call runs under the ScopedTimer `start(bind_to_thread)` returns.
template <class Start, class Fn>
auto time_calls_with(Start start, Fn fn) {
  return [start = std::move(start), fn = std::move(fn)](auto&&... args) mutable -> decltype(auto) {
    using Result = std::invoke_result_t<Fn&, decltype(args)...>;
    if constexpr (core::is_awaitable_v<Result>) {
      // Arguments are copied into the coroutine frame: the awaitable may outlive the caller's.
      return [](Start& begin, Fn& f, std::decay_t<decltype(args)>... copies) -> Result {
        ScopedTimer timer = begin(false);  // coroutines move between threads
        co_return co_await f(std::move(copies)...);
      }(start, fn, std::forward<decltype(args)>(args)...);
    } else {
      ScopedTimer timer = start(true);
      return fn(std::forward<decltype(args)>(args)...);
    }
  };
}
}  // namespace detail

/// Wraps `fn` so each call is timed into the series of `series`. The call's result (or
/// exception) passes through unchanged; the time is observed either way. Callables that
/// return boost::asio::awaitable<T> are timed until the coroutine completes.
template <class Fn>
auto time_calls(Histogram& series, Fn fn) {
  return detail::time_calls_with([&series](bool) { return ScopedTimer(series); }, std::move(fn));
}

/// The application metrics: HTTP, bot, errors, payments, subscriptions, users.
class PrometheusMetrics {
 public:
  static void increment_http_requests(std::string_view method, std::string_view endpoint,
                                      int status);
  static void increment_http_requests(std::string_view method, std::string_view endpoint,
                                      std::string_view status);
  static void increment_bot_messages(std::string_view message_type);
  static void increment_errors(std::string_view error_type, std::string_view module);
  static void increment_payment_requests(std::string_view payment_system);
  static void increment_payment_success(std::string_view payment_system);
  static void increment_subscription_created(std::string_view plan);

  static void observe_http_request_duration(std::string_view method, std::string_view endpoint,
                                            double seconds);
  static void observe_bot_handler_duration(std::string_view handler, double seconds);
  static void observe_payment_processing_duration(std::string_view payment_system, double seconds);

  static void set_active_users(double value);
  static void set_active_subscriptions(double value);
  static void set_database_connections(double value);

  /// RAII timer for a kind: "http" (labels method, endpoint), "bot_handler" (handler),
  /// "payment" (payment_system), "panel_api" (endpoint). Throws MetricError for an unknown
  /// kind or wrong labels, at the call.
  /// With Sentry started by setup_monitoring, the timer is also a child span of the
  /// thread's active span (op = the kind). With no active span, the kinds that stand for a
  /// whole unit of work start a transaction (sampled by traces_sample_rate) that is the
  /// thread's active span until the timer stops, so nested timers become its spans:
  /// "http" -> op http.server, name "<method> <endpoint>"; "bot_handler" -> op bot.handler,
  /// name = the handler. Its status is internal_error when the timer stops during an
  /// exception, else ok.
  static ScopedTimer track_time(std::string_view kind, const Labels& labels = {}) {
    return detail::start_catalog_timer(detail::timer_series(kind, labels), kind, labels, true);
  }

  /// track_time for work that stops in a later callback or on another thread (a request
  /// handled in asynchronous steps): its span or transaction is not made the calling thread's
  /// active span, since a thread-bound span that ends elsewhere would leave this thread
  /// inside its trace. Nested timers therefore do not become its spans; the exemplar of its
  /// observation still names it.
  static ScopedTimer track_time_async(std::string_view kind, const Labels& labels = {}) {
    return detail::start_catalog_timer(detail::timer_series(kind, labels), kind, labels, false);
  }

  /// Decorator form of track_time: returns a callable with `fn`'s signature that times every
  /// call (and traces it, as track_time). The kind and labels are checked here, not at the
  /// first call.
  template <class Fn>
  static auto timed(std::string_view kind, const Labels& labels, Fn fn) {
    Histogram& series = detail::timer_series(kind, labels);
    return detail::time_calls_with(
        [&series, kind = std::string(kind), labels](bool bind_to_thread) {
          return detail::start_catalog_timer(series, kind, labels, bind_to_thread);
        },
        std::move(fn));
  }
};

/// The business metrics: conversion, churn, LTV, provider availability, panel
/// API latency, referral revenue.
class CustomMetrics {
 public:
  static void set_conversion_rate(std::string_view period, double percent);
  static void set_churn_rate(std::string_view period, double percent);
  static void set_average_ltv(std::string_view currency, double value);
  /// One writer per provider, so the gauge never contradicts /health: while a `payment:<name>`
  /// health check exists (PAYMENT_SYSTEMS, health::payment_system_check) only that check sets
  /// payment_system_availability{payment_system=name}, and this call is refused (a warning is
  /// logged the first time). For a provider without a check, the application's value counts.
  static void set_payment_system_availability(std::string_view payment_system, bool available);
  /// Whether a `payment:<name>` check owns this provider's availability (the setter is refused).
  static bool payment_system_has_health_check(std::string_view payment_system);
  static void observe_panel_api_response_time(std::string_view endpoint, double seconds);
  static void increment_referral_revenue(std::string_view currency, double amount);
};

/// Registers every catalog family in the default registry now (otherwise each appears on
/// first use). Setup calls it so dashboards see all families from the first scrape.
void register_catalog();

}  // namespace monitoring::metrics
