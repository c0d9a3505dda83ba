#pragma once

// Configuration and the one-call setup of the monitoring stack:
// MonitoringConfig, setup_monitoring, shutdown_monitoring and the MonitoringServer handle.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "monitoring/error.hpp"

namespace monitoring {

namespace server {
class HttpServer;
}
namespace health {
class HealthChecker;
class ReadinessChecker;
}  // namespace health

/// Looks up one environment variable: its value, or nullopt when it is not set.
/// MonitoringConfig::from_env takes one so tests and embedders can supply their own source.
using EnvSource = std::function<std::optional<std::string>(std::string_view name)>;

/// Everything setup_monitoring needs, as one aggregate: build it with designated
/// initializers or read it from the environment with from_env().
///
/// Empty URLs and DSNs mean "not configured" (no check, no Sentry), never an error.
/// Every field has a default member initializer, so designated initializers may skip any of
/// them without tripping -Wmissing-field-initializers.
/// Level names are DEBUG, INFO, WARNING (alias WARN), ERROR and CRITICAL, in any case.
struct MonitoringConfig {
  // --- the core settings; their order is part of the API (designated initializers) ---
  std::string log_level = "INFO";  ///< LOG_LEVEL
  std::string log_dir = "logs";    ///< LOG_DIR
  bool use_json_logs = true;       ///< USE_JSON_LOGS
  /// SENTRY_DSN ("" = Sentry off). Not checked by validate(): a malformed DSN is reported
  /// by setup_monitoring as an error log line naming SENTRY_DSN (key redacted), and
  /// monitoring runs on without Sentry.
  std::string sentry_dsn{};
  std::string sentry_environment = "production";  ///< SENTRY_ENVIRONMENT
  double sentry_traces_sample_rate = 0.1;         ///< SENTRY_TRACES_SAMPLE_RATE, 0..1
  std::string monitoring_host = "0.0.0.0";        ///< MONITORING_HOST (IP literal or localhost)
  int monitoring_port = 9090;                     ///< MONITORING_PORT, 0 = ephemeral
  bool enable_monitoring_server = true;           ///< ENABLE_MONITORING_SERVER
  std::string database_url{};                     ///< DATABASE_URL
  std::string redis_url{};                        ///< REDIS_URL
  std::string telegram_token{};                   ///< TELEGRAM_TOKEN (secret)
  std::string panel_url{};                        ///< PANEL_URL
  std::map<std::string, std::string> payment_systems{};  ///< PAYMENT_SYSTEMS: name -> base URL

  // --- dependencies ---
  std::string telegram_api_url = "https://api.telegram.org";  ///< TELEGRAM_API_URL
  std::string migrations_table = "alembic_version";           ///< MIGRATIONS_TABLE ([schema.]table)
  std::string migrations_expected_version{};                  ///< MIGRATIONS_EXPECTED_VERSION

  // --- Sentry ---
  std::string sentry_release{};              ///< SENTRY_RELEASE
  std::string sentry_cache_dir = ".sentry";  ///< SENTRY_CACHE_DIR (unsent envelopes)
  double sentry_sample_rate = 1.0;           ///< SENTRY_SAMPLE_RATE, 0..1 (error events)
  /// SENTRY_AUTO_SESSION_TRACKING: release health sessions (one per run; needs SENTRY_RELEASE).
  bool sentry_auto_session_tracking = true;

  // --- logging ---
  std::map<std::string, std::string> log_levels{};  ///< LOG_LEVELS: module -> level
  std::uint64_t log_max_bytes = 10u << 20;          ///< LOG_MAX_BYTES; 0 = no size rotation
  int log_backup_count = 5;                         ///< LOG_BACKUP_COUNT, 0..10000
  /// LOG_BACKTRACE: records below the log level each thread keeps in memory and writes
  /// before its next error (0..100000; 0 = off). See logging::LoggingOptions::backtrace.
  int log_backtrace = 0;
  /// LOG_CONSOLE: where console logs go: "stderr", "stdout" (containers that collect
  /// stdout) or "none" (file only).
  std::string log_console = "stderr";
  /// MONITORING_THROW_TRACES: record where each exception is thrown, so that logged
  /// exceptions and Sentry events start at the throwing function instead of the catch site.
  /// Costs a stack capture per throw (README "Performance"); off for code that throws in hot
  /// loops.
  bool throw_traces = true;

  // --- monitoring server ---
  std::string
      monitoring_auth_token{};  ///< MONITORING_AUTH_TOKEN: bearer token for /metrics (secret)
  /// MONITORING_LOGGERS_WRITABLE: lets PUT /loggers/<module> change log levels without a
  /// token when MONITORING_AUTH_TOKEN is unset (with a token, writes always need it). Off by
  /// default: an open level switch lets anyone flood or silence the logs.
  bool loggers_writable = false;
  int server_threads = 1;              ///< MONITORING_SERVER_THREADS, 1..64
  std::size_t max_connections = 1024;  ///< MONITORING_MAX_CONNECTIONS (see HttpServerOptions)
  /// MONITORING_MAX_CONNECTIONS_PER_CLIENT, 0..1000000 (0 = no limit): connections one client
  /// address may hold (see HttpServerOptions). Raise it behind a sidecar proxy, where every
  /// client arrives from loopback.
  std::size_t max_connections_per_client = 64;
  std::size_t max_header_bytes = 8192;            ///< MONITORING_MAX_HEADER_BYTES (larger → 431)
  std::chrono::milliseconds read_timeout{10000};  ///< MONITORING_READ_TIMEOUT_MS (slow clients)
  std::chrono::milliseconds keep_alive_timeout{30000};  ///< MONITORING_KEEP_ALIVE_TIMEOUT_MS
  std::chrono::milliseconds write_timeout{10000};       ///< MONITORING_WRITE_TIMEOUT_MS
  /// MONITORING_SHUTDOWN_GRACE_MS: how long shutdown lets in-flight requests finish.
  std::chrono::milliseconds shutdown_grace{2000};
  /// MONITORING_DRAIN_MS: at shutdown, how long /ready answers 503 while everything else
  /// keeps serving, before the server stops (Kubernetes graceful shutdown; 0 = no wait).
  std::chrono::milliseconds drain_period{0};
  /// MONITORING_STATUS_PAGE: serve GET /status, the HTML status page (behind the token).
  bool status_page = true;
  /// MONITORING_STATUS_SAMPLE_MS, 100..300000: how often the status page's charts take a
  /// sample of the catalog (they show the last 15 minutes).
  std::chrono::milliseconds status_sample_interval{10000};

  // --- metrics ---
  /// METRICS_SERIES_LIMIT: cardinality limit per family, for families registered by setup
  /// and after it.
  std::size_t metrics_series_limit = 10000;

  /// Reads the process environment (see README "Configuration" for every variable).
  /// An unset or empty variable keeps the default; surrounding whitespace is ignored.
  /// Throws ConfigError naming the variable and its value (secrets redacted) for a bad value.
  static MonitoringConfig from_env();
  /// Same, from `source` instead of the process environment.
  static MonitoringConfig from_env(const EnvSource& source);

  /// Checks every field of a config built in code; throws ConfigError naming the field and
  /// its value (secrets redacted). setup_monitoring calls it.
  void validate() const;
};

/// The canonical upper-case name of a log level ("warn" → "WARNING"), or nullopt when
/// `level` is not one of DEBUG, INFO, WARNING/WARN, ERROR, CRITICAL (any case).
std::optional<std::string> normalize_log_level(std::string_view level);

/// The running monitoring stack: the HTTP server and everything setup_monitoring started.
///
/// A movable RAII handle: destroying it (or calling shutdown_monitoring) stops the server
/// and releases what setup started. A default-constructed or moved-from handle owns nothing.
class MonitoringServer {
 public:
  struct Impl;

  MonitoringServer() noexcept;
  explicit MonitoringServer(std::unique_ptr<Impl> impl) noexcept;
  MonitoringServer(MonitoringServer&& other) noexcept;
  /// Shuts down what this handle owned, then takes over `other`'s.
  MonitoringServer& operator=(MonitoringServer&& other) noexcept;
  MonitoringServer(const MonitoringServer&) = delete;
  MonitoringServer& operator=(const MonitoringServer&) = delete;
  ~MonitoringServer();  ///< shutdown_monitoring(*this)

  /// The bound port (the ephemeral one when the config said 0); 0 when the server is disabled.
  std::uint16_t port() const noexcept;
  /// The configured listen host ("0.0.0.0", "127.0.0.1", "::", ...); "" for an empty handle.
  const std::string& host() const noexcept;
  /// A URL that reaches the server from this machine, e.g. "http://127.0.0.1:9090": wildcard
  /// hosts become the loopback address, IPv6 literals get brackets. "" when disabled.
  std::string url() const;
  /// True while the HTTP server accepts requests.
  bool running() const noexcept;
  /// The configuration setup ran with. Throws Error for an empty handle.
  const MonitoringConfig& config() const;
  /// The HTTP server, for adding routes; nullptr when the server is disabled or the handle
  /// is empty.
  server::HttpServer* http_server() noexcept;

  /// The /health checker setup built from the config: add the application's own checks here.
  /// nullptr for an empty handle.
  health::HealthChecker* health_checker() noexcept;
  /// The /ready checker. /ready answers 503 until mark_started().
  health::ReadinessChecker* readiness_checker() noexcept;
  /// The application finished starting: /ready may answer 200 from now on.
  void mark_started() noexcept;
  /// True when setup started the Sentry client (a DSN was set and it was usable).
  bool sentry_enabled() const noexcept;

  friend void shutdown_monitoring(MonitoringServer& server);

 private:
  std::unique_ptr<Impl> impl_;
};

/// Validates `config` (ConfigError); starts structured logging (log_level, log_levels, log_dir,
/// use_json_logs, rotation; ConfigError naming an unwritable log_dir); registers the metric
/// catalog and the process metrics in the default registry; builds the health and readiness
/// checkers from the dependency settings; starts the Sentry client when sentry_dsn is set (a
/// DSN it cannot use is logged as an error naming SENTRY_DSN, and setup goes on without
/// Sentry); and, when enable_monitoring_server is set, starts the HTTP server with /metrics,
/// /health, /ready and /live. Throws Error naming host:port when the server cannot listen.
MonitoringServer setup_monitoring(const MonitoringConfig& config);

/// Stops in order: /ready turns 503 (draining), drain_period passes while everything else
/// still serves, the server stops (in-flight requests get shutdown_grace), the checkers stop,
/// and logging writes every queued record. Idempotent; safe on an empty handle; the handle's
/// accessors keep working afterwards (running() is false).
void shutdown_monitoring(MonitoringServer& server);

}  // namespace monitoring
