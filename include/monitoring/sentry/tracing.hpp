#pragma once

// Sentry performance tracing: transactions with child spans, sampled by traces_sample_rate,
// continued from and propagated through the `sentry-trace` and `baggage` headers. A span
// started on a thread also becomes that thread's trace in the shared context, so log lines
// carry trace.id / span.id and error events get the trace context.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "monitoring/core/awaitable.hpp"

namespace monitoring::sentry {

using Tags = std::vector<std::pair<std::string, std::string>>;

/// A parsed `sentry-trace` header: `{trace_id}-{span_id}[-{sampled}]`.
struct TraceParent {
  std::string trace_id{};        ///< 32 lowercase hex digits
  std::string parent_span_id{};  ///< 16 lowercase hex digits
  std::optional<bool> sampled{};
};

/// Parses a `sentry-trace` value; nullopt when it is malformed (a new trace starts then).
std::optional<TraceParent> parse_sentry_trace(std::string_view header);

/// The `sentry-` members of a W3C `baggage` header, prefix removed and values decoded
/// ("sentry-trace_id=abc" -> {"trace_id", "abc"}). Other vendors' members are ignored.
Tags parse_baggage(std::string_view header);

/// One timed operation. The root span of a trace is its transaction; spans started from it
/// (or, with start_span, from the thread's active span) are its children. RAII: finished by
/// the destructor at the latest; the transaction is sent when its root finishes, if sampled.
/// Movable, not copyable. A default-constructed (or moved-from) span is inactive: every
/// call on it does nothing.
class Span {
 public:
  Span() noexcept;
  Span(Span&& other) noexcept;
  Span& operator=(Span&& other) noexcept;
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  ~Span();

  bool active() const noexcept;
  bool sampled() const noexcept;
  std::string trace_id() const;
  std::string span_id() const;

  /// A child of this span (not bound to the thread's context). Throws SentryError for an
  /// empty `op`.
  Span start_child(std::string_view op, std::string_view description = {});
  /// Throws SentryError for a key that is empty, longer than 32 characters or has spaces.
  Span& set_tag(std::string_view key, std::string_view value);
  Span& set_data(std::string_view key, std::string_view value);
  /// Sentry's span status: ok, cancelled, unknown, invalid_argument, deadline_exceeded,
  /// not_found, already_exists, permission_denied, resource_exhausted, failed_precondition,
  /// aborted, out_of_range, unimplemented, internal_error, unavailable, data_loss,
  /// unauthenticated. Throws SentryError for anything else.
  Span& set_status(std::string_view status);
  /// Ends the span now (idempotent).
  void finish();

  /// Header values for an outgoing request, so the callee continues this trace.
  std::string sentry_trace() const;
  std::string baggage() const;

  struct State;
  explicit Span(std::unique_ptr<State> state) noexcept;

 private:
  std::unique_ptr<State> state_;
};

/// Starts a transaction: a new trace, or the continuation of the caller's when
/// `sentry_trace` (and optionally `baggage`) come from an incoming request. Sampling: the
/// incoming decision when there is one, else traces_sample_rate. With `bind_context` the
/// span is this thread's active span (logs, events, start_span) until it finishes; pass
/// false in coroutines, which move between threads. Throws SentryError for an empty name/op.
Span start_transaction(std::string_view name, std::string_view op = "task",
                       std::string_view sentry_trace = {}, std::string_view baggage = {},
                       bool bind_context = true);
/// A child of the calling thread's active span; an inactive span when there is none.
Span start_span(std::string_view op, std::string_view description = {}, bool bind_context = true);

/// Wraps `fn` so every call runs in a span `op` (status internal_error when it throws).
/// Callables returning boost::asio::awaitable<T> get a span for the coroutine's whole run,
/// not bound to the thread's context (coroutines move between threads).
template <class Fn>
auto traced(std::string op, std::string description, Fn fn) {
  return [op = std::move(op), description = std::move(description),
          fn = std::move(fn)](auto&&... args) mutable -> decltype(auto) {
    using Result = std::invoke_result_t<Fn&, decltype(args)...>;
    if constexpr (core::is_awaitable_v<Result>) {
      return [](Span span, Fn& f, std::decay_t<decltype(args)>... copies) -> Result {
        try {
          co_return co_await f(std::move(copies)...);
        } catch (...) {
          span.set_status("internal_error");
          throw;
        }
      }(start_span(op, description, false), fn, std::forward<decltype(args)>(args)...);
    } else {
      Span span = start_span(op, description);
      try {
        return fn(std::forward<decltype(args)>(args)...);
      } catch (...) {
        span.set_status("internal_error");
        throw;
      }
    }
  };
}

}  // namespace monitoring::sentry
