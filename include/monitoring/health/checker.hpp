#pragma once

// HealthChecker (/health) and ReadinessChecker (/ready): named checks run in parallel on their
// own executor, with timeouts, caching and background refresh.

// clang-format off
#include <utility>  // first: Boost 1.74's awaitable.hpp uses std::exchange without including it
// clang-format on

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <concepts>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "monitoring/core/awaitable.hpp"
#include "monitoring/health/check.hpp"

namespace monitoring::server {
class HttpServer;
}

namespace monitoring::health {

struct HealthRouteOptions;
class HealthChecker;
class ReadinessChecker;

namespace detail {

class CheckEngine;
struct ReadinessState;

/// Runs a coroutine check to completion or until `context.deadline`: on `executor` when given
/// (the application's own event loop, e.g. for its connection pool), otherwise on a private
/// io_context on the calling (check) thread.
CheckResult run_awaitable_check(boost::asio::awaitable<CheckResult> check,
                                const boost::asio::any_io_executor* executor,
                                const CheckContext& context);

template <class Fn>
decltype(auto) invoke_check(Fn& fn, const CheckContext& context) {
  if constexpr (std::is_invocable_v<Fn&, const CheckContext&>)
    return fn(context);
  else
    return fn();
}

/// bool: false is unhealthy; Status: that status with a generic message; CheckResult as is.
template <class R>
CheckResult to_check_result(R&& value) {
  using V = std::remove_cvref_t<R>;
  if constexpr (std::is_same_v<V, CheckResult>)
    return std::forward<R>(value);
  else if constexpr (std::is_same_v<V, Status>)
    return {value, value == Status::healthy ? "ok" : std::string(to_string(value))};
  else if constexpr (std::is_same_v<V, bool>)
    return value ? CheckResult::healthy() : CheckResult::unhealthy("check returned false");
  else
    static_assert(sizeof(V) == 0, "a health check must return CheckResult, Status, bool or void");
}

template <class T>
boost::asio::awaitable<CheckResult> normalize_awaitable(boost::asio::awaitable<T> inner) {
  if constexpr (std::is_void_v<T>) {
    co_await std::move(inner);
    co_return CheckResult::healthy();
  } else {
    co_return to_check_result(co_await std::move(inner));
  }
}

/// Adapts any supported callable to a CheckFunction. Exceptions are not caught here: the
/// engine turns them into an unhealthy result carrying the exception's message.
template <class Fn>
CheckFunction make_check_function(Fn fn,
                                  std::shared_ptr<const boost::asio::any_io_executor> executor) {
  static_assert(std::is_invocable_v<Fn&, const CheckContext&> || std::is_invocable_v<Fn&>,
                "a health check must be callable as fn() or fn(const CheckContext&)");
  return [fn = std::move(fn), executor = std::move(executor)](const CheckContext& context) mutable {
    using R = decltype(invoke_check(fn, context));
    if constexpr (core::is_awaitable_v<R>) {
      return run_awaitable_check(normalize_awaitable(invoke_check(fn, context)), executor.get(),
                                 context);
    } else if constexpr (std::is_void_v<R>) {
      invoke_check(fn, context);
      return CheckResult::healthy();
    } else {
      return to_check_result(invoke_check(fn, context));
    }
  };
}

/// Internal access for the HTTP routes (they keep the shared state alive, not the checker).
struct Access;

}  // namespace detail

/// Timing of the checks that monitoring::default_health_checker / default_readiness_checker
/// create.
/// They refresh in the background, so /health and /ready answer from memory and
/// health_check_status stays current for Prometheus even when nobody calls the endpoints.
struct DefaultChecksOptions {
  std::chrono::milliseconds timeout{2000};
  /// database, redis, and the readiness checks (migrations, cache, connections).
  std::chrono::milliseconds dependency_interval{5000};
  /// telegram, panel and payment:<name>: third parties, polled less often.
  std::chrono::milliseconds external_interval{15000};
};

/// The /health checker: a set of named checks (database, redis, telegram, panel, payment:<name>,
/// or any callable), run in parallel on a private executor, never on the caller's thread.
///
/// Each check has a timeout (a stuck check is abandoned and reported "timeout"), a critical
/// flag, and a cache TTL or a background refresh interval. `check()` waits at most for the
/// longest timeout among the checks that have to run; `check_async()` never blocks.
/// Results are exported as health_check_status{check} (1 healthy, 0 otherwise) and
/// health_check_duration_seconds{check}.
///
/// Thread-safe. Movable; the destructor stops the executor (running checks get
/// `shutdown_grace` to return, then are left behind, never joined while stuck).
class HealthChecker {
 public:
  explicit HealthChecker(CheckerOptions options = {});
  ~HealthChecker();
  HealthChecker(HealthChecker&&) noexcept;
  HealthChecker& operator=(HealthChecker&&) noexcept;
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  /// Registers `fn` under `name` (printable ASCII, no spaces, at most 128 bytes; otherwise
  /// monitoring::Error). Registering a name again replaces the previous check. `fn` may take a
  /// `const CheckContext&` or nothing, and return CheckResult, Status, bool (false =
  /// unhealthy), void (returning = healthy), or boost::asio::awaitable of those (run on a
  /// private io_context). A thrown exception makes the check unhealthy with its message.
  template <class Fn>
  void add_check(std::string name, Fn fn, CheckOptions options = {}) {
    add(std::move(name), detail::make_check_function(std::move(fn), nullptr), options);
  }
  /// Same, for a coroutine check that must run on the application's executor (for example one
  /// that borrows a connection from the application's pool).
  template <class Fn>
  void add_check_on(boost::asio::any_io_executor executor, std::string name, Fn fn,
                    CheckOptions options = {}) {
    add(std::move(name),
        detail::make_check_function(
            std::move(fn),
            std::make_shared<const boost::asio::any_io_executor>(std::move(executor))),
        options);
  }
  /// Removes a check; false when there is none by that name.
  bool remove_check(std::string_view name);
  std::vector<std::string> check_names() const;
  CheckerStats stats() const;

  /// Runs (or reads from cache) every check and aggregates them. Blocks the caller until the
  /// results are in, at most about the longest timeout.
  HealthReport check() const;
  /// Same without blocking: `done` is called once, on the calling thread when every result is
  /// cached, otherwise on an internal thread. Keep it short.
  void check_async(std::function<void(HealthReport)> done) const;

 private:
  friend struct detail::Access;
  void add(std::string name, CheckFunction fn, CheckOptions options);
  std::shared_ptr<detail::CheckEngine> engine_;
};

/// The /ready checker: readiness checks (migrations, cache, connections, or any callable) plus
/// two switches the application flips: startup complete and draining.
///
/// Ready = started, not draining, and no critical check unhealthy. Draining is one-way: from
/// `begin_drain()` on, /ready answers 503 at once (without running checks) so Kubernetes stops
/// routing traffic while /health, /live and /metrics keep serving.
class ReadinessChecker {
 public:
  explicit ReadinessChecker(CheckerOptions options = {});
  ~ReadinessChecker();
  ReadinessChecker(ReadinessChecker&&) noexcept;
  ReadinessChecker& operator=(ReadinessChecker&&) noexcept;
  ReadinessChecker(const ReadinessChecker&) = delete;
  ReadinessChecker& operator=(const ReadinessChecker&) = delete;

  /// Same contract as HealthChecker::add_check.
  template <class Fn>
  void add_check(std::string name, Fn fn, CheckOptions options = {}) {
    add(std::move(name), detail::make_check_function(std::move(fn), nullptr), options);
  }
  template <class Fn>
  void add_check_on(boost::asio::any_io_executor executor, std::string name, Fn fn,
                    CheckOptions options = {}) {
    add(std::move(name),
        detail::make_check_function(
            std::move(fn),
            std::make_shared<const boost::asio::any_io_executor>(std::move(executor))),
        options);
  }
  bool remove_check(std::string_view name);
  std::vector<std::string> check_names() const;
  CheckerStats stats() const;

  /// The application finished starting (connections opened, caches warmed). Until then /ready
  /// answers 503.
  void mark_started() noexcept;
  bool started() const noexcept;
  /// Shutdown began: /ready answers 503 from now on. Idempotent, lock-free and
  /// async-signal-safe, so a SIGTERM handler may call it.
  void begin_drain() noexcept;
  bool draining() const noexcept;

  ReadinessReport check() const;
  void check_async(std::function<void(ReadinessReport)> done) const;

 private:
  friend struct detail::Access;
  void add(std::string name, CheckFunction fn, CheckOptions options);
  std::shared_ptr<detail::ReadinessState> state_;
};

}  // namespace monitoring::health
