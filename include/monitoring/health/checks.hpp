#pragma once

// Built-in checks. Each factory validates its configuration at once (ConfigError naming the
// setting, secrets redacted) and returns a CheckFunction for HealthChecker/ReadinessChecker.
// Every check sizes its I/O timeouts from the run's deadline, so its thread returns on time,
// and never reports a password, token or credential-bearing URL.

#include <functional>
#include <string>
#include <string_view>

#include "monitoring/health/check.hpp"

namespace monitoring::health {

/// PostgreSQL through libpq: connects with `database_url` (postgresql:// or postgres:// URI,
/// a "+driver" suffix such as postgresql+asyncpg:// is accepted, or a key=value conninfo
/// string), runs `SELECT 1` and disconnects. Connection and query are bounded by the deadline.
CheckFunction postgres_check(std::string database_url);

/// The "through the application's own pool" variant: `execute` runs an SQL statement on a
/// pooled connection and throws on failure; the check calls it with "SELECT 1".
CheckFunction postgres_pool_check(std::function<void(std::string_view sql)> execute);

/// Redis through hiredis: redis://[user:password@]host[:port][/db], rediss:// is refused
/// (no TLS in this build), unix:///path/to.sock[?db=N&password=...]. AUTH and SELECT as the
/// URL says, then PING, which must answer PONG.
CheckFunction redis_check(std::string redis_url);

/// Telegram Bot API `getMe` at `api_url` (default https://api.telegram.org): 200 with "ok":true
/// is healthy, 401/404 unhealthy ("invalid token"), 429 degraded (rate limited), anything
/// else unhealthy. The token appears nowhere in results.
CheckFunction telegram_check(std::string token, std::string api_url = "https://api.telegram.org");

/// What the panel and payment-system checks report besides their result. The health component
/// keeps no application metric itself: the 2GETPRO catalog installs an observer that feeds
/// panel_api_response_time{endpoint="health_check"} and payment_system_availability.
struct HttpCheckObserver {
  /// The panel answered (any status) after `seconds`.
  void (*panel_answered)(double seconds) noexcept;
  /// A payment provider's check finished: `available` when it was healthy.
  void (*payment_system_checked)(std::string_view name, bool available) noexcept;
  /// A check for provider `name` was created / its last copy destroyed. While one exists it is
  /// the only writer of that provider's availability, so the gauge and /health never disagree.
  /// Either may be null (an observer that keeps no availability).
  void (*payment_check_added)(std::string_view name) noexcept = nullptr;
  void (*payment_check_removed)(std::string_view name) noexcept = nullptr;
};
/// Installs `observer` (nullptr removes it); it must outlive every check run.
void set_http_check_observer(const HttpCheckObserver* observer) noexcept;

/// An HTTP dependency (the admin panel): GET `url`; any answer below 500 means up, 5xx or no
/// answer means down. When an answer arrives the HttpCheckObserver hears its latency.
CheckFunction panel_check(std::string url);

/// A payment provider: like panel_check; the HttpCheckObserver hears whether it was available
/// after every run, and that the check exists for as long as any copy of it does.
CheckFunction payment_system_check(std::string name, std::string url);

/// Schema migrations in PostgreSQL (readiness). The table layout is recognized by its columns:
/// Alembic (`version_num`), golang-migrate (`version`, `dirty`: dirty = not ready) or Flyway
/// (`flyway_schema_history`, `success`: a failed migration = not ready). A missing or empty
/// table is not ready. With `expected_version`, the applied version must equal it (Alembic
/// revisions are not ordered) or be at least it (golang-migrate, Flyway). `table` may be
/// schema-qualified; anything but plain identifiers is a ConfigError.
CheckFunction migrations_check(std::string database_url, std::string table = "alembic_version",
                               std::string expected_version = {});

}  // namespace monitoring::health
