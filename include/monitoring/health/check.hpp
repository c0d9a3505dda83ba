#pragma once

// Vocabulary of the health component: statuses, check results, options and reports.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "monitoring/health/clock.hpp"

namespace monitoring::metrics {
class Registry;
}

namespace monitoring::health {

/// State of one check, and of a whole /health report.
///
/// A report is `unhealthy` when a critical check is unhealthy, `degraded` when any other check
/// is not healthy (a payment provider down, Telegram rate-limiting us), `healthy` otherwise.
enum class Status : std::uint8_t { healthy, degraded, unhealthy };

/// "healthy", "degraded" or "unhealthy".
std::string_view to_string(Status status) noexcept;

/// What a check function returns: a status and a short human-readable message.
///
/// Messages end up in /health responses, so checks must not put secrets in them; the built-in
/// checks redact URLs, passwords and tokens themselves.
struct CheckResult {
  Status status = Status::healthy;
  std::string message = "ok";

  static CheckResult healthy(std::string message = "ok") {
    return {Status::healthy, std::move(message)};
  }
  static CheckResult degraded(std::string message) {
    return {Status::degraded, std::move(message)};
  }
  static CheckResult unhealthy(std::string message) {
    return {Status::unhealthy, std::move(message)};
  }
};

/// Passed to a check function: when the run will be abandoned. Checks that do I/O should
/// size their own timeouts from `remaining()` so their thread comes back on time.
struct CheckContext {
  std::chrono::steady_clock::time_point deadline;

  std::chrono::milliseconds remaining() const noexcept {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return left.count() > 0 ? left : std::chrono::milliseconds(0);
  }
  bool expired() const noexcept { return std::chrono::steady_clock::now() >= deadline; }
};

/// The normalized form every check is stored as. `add_check` also accepts callables without
/// the context argument and ones returning bool, void, Status or boost::asio::awaitable<...>.
using CheckFunction = std::function<CheckResult(const CheckContext&)>;

/// How one check is run.
struct CheckOptions {
  /// A run still going after this is abandoned and reported unhealthy with "timeout after N ms".
  /// A check whose abandoned run has not returned yet is not started again: requests get the
  /// timeout verdict until the stuck call comes back.
  std::chrono::milliseconds timeout{2000};
  /// Critical checks make the whole report unhealthy (503); the others only degrade it.
  bool critical = true;
  /// A result younger than this is served without running the check again. 0 runs the check
  /// for every request (concurrent requests still share one run).
  std::chrono::milliseconds cache_ttl{5000};
  /// When positive, the check runs in the background every `interval` (starting at
  /// registration) and requests always read the latest result; `cache_ttl` is then unused.
  std::chrono::milliseconds interval{0};
};

/// The verdict of one check as reported: a fresh run, a cached one, or a timeout.
struct CheckOutcome {
  std::string name;
  Status status = Status::healthy;
  std::string message;
  double latency_ms = 0;  ///< how long the run took (the timeout for an abandoned run)
  bool critical = true;
  std::chrono::system_clock::time_point checked_at;  ///< when that run finished
};

/// Aggregated status of `checks` (see Status). No checks is healthy.
Status aggregate_status(std::span<const CheckOutcome> checks) noexcept;

/// The body of /health.
struct HealthReport {
  Status status = Status::healthy;
  std::chrono::system_clock::time_point timestamp;
  double uptime_seconds = 0;
  std::vector<CheckOutcome> checks;  ///< in registration order

  /// 503 when unhealthy, 200 otherwise (degraded is still 200).
  unsigned http_status() const noexcept { return status == Status::unhealthy ? 503 : 200; }
};

/// The body of /ready.
struct ReadinessReport {
  bool ready = false;
  bool started = false;   ///< the application called mark_started()
  bool draining = false;  ///< shutdown began (begin_drain())
  std::chrono::system_clock::time_point timestamp;
  std::vector<CheckOutcome> checks;

  unsigned http_status() const noexcept { return ready ? 200 : 503; }
};

/// How a checker runs its checks.
struct CheckerOptions {
  /// Upper bound on the executor's threads. Threads are created on demand and retire when
  /// idle; a stuck check holds one until it returns, so keep this above the number of checks.
  std::size_t max_threads = 16;
  std::chrono::milliseconds idle_thread_timeout{30000};
  /// On destruction, how long to wait for running checks before leaving them behind.
  std::chrono::milliseconds shutdown_grace{1000};
  /// Where health_check_status{check} and health_check_duration_seconds{check} go;
  /// nullptr = metrics::Registry::default_registry().
  metrics::Registry* registry = nullptr;
  bool export_metrics = true;
  /// Reads the time for result cache TTLs (and how long a stuck check has not returned).
  /// Check deadlines and background refresh intervals always run on the real steady clock: a
  /// hung dependency is hung in real time.
  Clock clock = default_clock();
};

/// What a checker is doing, for operators and for tests that wait on it.
struct CheckerStats {
  std::uint64_t runs_started = 0;  ///< check runs launched, by requests and background refresh
  /// Requests attached to a run in flight, waiting for its verdict (one per check and request).
  std::size_t requests_waiting = 0;
};

/// Seconds since the process started (the uptime reported by /health and /live).
double process_uptime_seconds() noexcept;

}  // namespace monitoring::health
