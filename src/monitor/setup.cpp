// setup_monitoring / shutdown_monitoring and the MonitoringServer handle.

#include <exception>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "monitor/routes.hpp"
#include "monitor/state.hpp"
#include "monitor/status_page.hpp"
#include "monitoring/catalog/catalog.hpp"
#include "monitoring/catalog/tracing.hpp"
#include "monitoring/health/http.hpp"
#include "monitoring/logging/logger.hpp"
#include "monitoring/logging/options.hpp"
#include "monitoring/metrics/process_collector.hpp"
#include "monitoring/metrics/registry.hpp"
#include "monitoring/monitor/default_checks.hpp"
#include "monitoring/sentry.hpp"
#include "monitoring/server/http_server.hpp"
#include "stacktrace/throw_site.hpp"

namespace monitoring {
namespace {

server::HttpServerOptions server_options(const MonitoringConfig& config) {
  server::HttpServerOptions options;
  options.host = config.monitoring_host;
  options.port = config.monitoring_port;
  options.threads = static_cast<unsigned>(config.server_threads);
  options.max_connections = config.max_connections;
  options.max_connections_per_client = config.max_connections_per_client;
  options.max_header_bytes = config.max_header_bytes;
  options.read_timeout = config.read_timeout;
  options.keep_alive_timeout = config.keep_alive_timeout;
  options.write_timeout = config.write_timeout;
  return options;
}

logging::LoggingOptions logging_options(const MonitoringConfig& config) {
  logging::LoggingOptions options;
  options.level = logging::parse_level(config.log_level);
  for (const auto& [module, level] : config.log_levels)
    options.module_levels.emplace(module, logging::parse_level(level));
  options.log_dir = config.log_dir;
  options.json = config.use_json_logs;
  options.console = config.log_console == "stdout" ? logging::ConsoleTarget::kStdout
                    : config.log_console == "none" ? logging::ConsoleTarget::kNone
                                                   : logging::ConsoleTarget::kStderr;
  options.max_bytes = config.log_max_bytes;
  options.backup_count = static_cast<unsigned>(config.log_backup_count);
  options.backtrace = static_cast<std::size_t>(config.log_backtrace);
  options.service_environment = config.sentry_environment;
  options.service_version = config.sentry_release;
  return options;
}

/// Every endpoint of the monitoring server. Components add their routes here, before the
/// server starts listening, so the first request already sees all of them.
void install_routes(MonitoringServer::Impl& state) {
  server::HttpServer& http = *state.http;
  detail::install_metrics_route(http, state.config);
  detail::install_loggers_routes(http, state.config);
  health::HealthRouteOptions options;
  options.auth_token = state.config.monitoring_auth_token;  // hides details, never the status
  options.version = state.config.sentry_release;
  health::install_health_routes(http, *state.health, *state.readiness, options);
  if (state.config.status_page) {
    auto sampler = std::make_shared<detail::StatusSampler>(state.config.status_sample_interval);
    std::string service = "2GETPRO bot";
    if (!state.config.sentry_release.empty()) service += " " + state.config.sentry_release;
    if (!state.config.sentry_environment.empty())
      service += " (" + state.config.sentry_environment + ")";
    detail::install_status_route(http, *state.health, sampler, state.config.monitoring_auth_token,
                                 std::move(service));
    state.on_shutdown([sampler] { sampler->stop(); });
  }
}

void start_server(MonitoringServer::Impl& state) {
  state.http = std::make_unique<server::HttpServer>(server_options(state.config));
  install_routes(state);
  try {
    state.http->start();
  } catch (const server::ListenError& error) {
    // Hint at the likely fix, from the system error (never from its text, which depends on
    // the C library): a port in use (a second instance, or a second setup_monitoring) wants
    // another MONITORING_PORT; an address this machine does not have, another MONITORING_HOST.
    const std::error_code code = error.code();
    std::string hint;
    if (code == std::errc::address_in_use)
      hint = " (is another process or monitoring server using it? choose another MONITORING_PORT)";
    else if (code == std::errc::address_not_available)
      hint = " (MONITORING_HOST is not an address of this machine's network interfaces)";
    else if (code == std::errc::permission_denied && state.config.monitoring_port > 0 &&
             state.config.monitoring_port < 1024)
      hint =
          " (ports below 1024 need root or CAP_NET_BIND_SERVICE: choose a MONITORING_PORT "
          "of 1024 or above)";
    throw Error("setup_monitoring: the monitoring server cannot listen on port " +
                std::to_string(state.config.monitoring_port) + " of " +
                state.config.monitoring_host + hint + ": " + error.step() + ": " + code.message());
  } catch (const Error& error) {
    throw Error("setup_monitoring: the monitoring server cannot listen on port " +
                std::to_string(state.config.monitoring_port) + " of " +
                state.config.monitoring_host + ": " + error.what());
  }
  state.bound_port = state.http->port();
}

/// Sentry from SENTRY_* (an empty DSN = off). A client that cannot start is reported in the
/// log and monitoring runs on without it: losing error reports must not take the service down.
void start_sentry(MonitoringServer::Impl& state) {
  const MonitoringConfig& config = state.config;
  if (config.sentry_dsn.empty()) return;
  sentry::Options options;
  options.dsn = config.sentry_dsn;
  options.environment = config.sentry_environment;
  options.release = config.sentry_release;
  options.sample_rate = config.sentry_sample_rate;
  options.traces_sample_rate = config.sentry_traces_sample_rate;
  options.cache_dir = config.sentry_cache_dir;
  options.auto_session_tracking = config.sentry_auto_session_tracking;
  try {
    sentry::init(std::move(options));
  } catch (const std::exception& error) {
    // Error reporting is an add-on: metrics, logs and probes keep running without it.
    // SentryError messages show the DSN with its key replaced.
    logging::StructuredLogger("monitoring")
        .error(std::string("SENTRY_DSN (sentry_dsn) cannot be used, so Sentry is disabled and "
                           "monitoring runs on without it: ") +
               error.what());
    return;
  }
  state.sentry_enabled = true;
  metrics::detail::set_timer_span_hooks(&sentry::detail::timer_span_hooks());
  state.on_shutdown([] {
    metrics::detail::set_timer_span_hooks(nullptr);
    logging::flush();  // the last error records still become events
    sentry::close();
  });
}

}  // namespace

void MonitoringServer::Impl::shutdown() noexcept {
  std::lock_guard lock(shutdown_mutex);
  if (shut_down) return;
  shut_down = true;
  // Kubernetes first stops sending traffic (/ready 503), then the process stops serving.
  if (readiness) readiness->begin_drain();
  if (http && http->running() && config.drain_period.count() > 0)
    std::this_thread::sleep_for(config.drain_period);
  if (http) {
    try {
      http->stop(config.shutdown_grace);
    } catch (...) {  // stop() throws only when called from a server thread; nothing to undo
    }
  }
  for (auto hook = shutdown_hooks.rbegin(); hook != shutdown_hooks.rend(); ++hook) {
    try {
      (*hook)();
    } catch (...) {
    }
  }
  shutdown_hooks.clear();
  health.reset();
  readiness.reset();
  // Last, so every component's final records (and the shutdown itself) reach the log.
  if (logging_started) logging::shutdown();
}

MonitoringServer::MonitoringServer() noexcept = default;
MonitoringServer::MonitoringServer(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
MonitoringServer::MonitoringServer(MonitoringServer&& other) noexcept = default;

MonitoringServer& MonitoringServer::operator=(MonitoringServer&& other) noexcept {
  if (this != &other) {
    shutdown_monitoring(*this);
    impl_ = std::move(other.impl_);
  }
  return *this;
}

MonitoringServer::~MonitoringServer() {
  shutdown_monitoring(*this);
}

std::uint16_t MonitoringServer::port() const noexcept {
  return impl_ ? impl_->bound_port : 0;
}

const std::string& MonitoringServer::host() const noexcept {
  static const std::string kNone;
  return impl_ ? impl_->config.monitoring_host : kNone;
}

std::string MonitoringServer::url() const {
  if (!impl_ || !impl_->http) return {};
  std::string host = impl_->config.monitoring_host;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  // A wildcard address is not something to connect to: its loopback twin reaches the server.
  if (host == "0.0.0.0")
    host = "127.0.0.1";
  else if (host == "::" || host == "0:0:0:0:0:0:0:0")
    host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(impl_->bound_port);
}

bool MonitoringServer::running() const noexcept {
  return impl_ && impl_->http && impl_->http->running();
}

const MonitoringConfig& MonitoringServer::config() const {
  if (!impl_)
    throw Error(
        "MonitoringServer::config: the handle is empty (moved from or default-constructed)");
  return impl_->config;
}

server::HttpServer* MonitoringServer::http_server() noexcept {
  return impl_ ? impl_->http.get() : nullptr;
}

health::HealthChecker* MonitoringServer::health_checker() noexcept {
  return impl_ ? impl_->health.get() : nullptr;
}

health::ReadinessChecker* MonitoringServer::readiness_checker() noexcept {
  return impl_ ? impl_->readiness.get() : nullptr;
}

bool MonitoringServer::sentry_enabled() const noexcept {
  return impl_ && impl_->sentry_enabled;
}

void MonitoringServer::mark_started() noexcept {
  if (impl_ && impl_->readiness) impl_->readiness->mark_started();
}

MonitoringServer setup_monitoring(const MonitoringConfig& config) {
  config.validate();
  auto state = std::make_unique<MonitoringServer::Impl>(config);
  stacktrace::detail::set_throw_traces(config.throw_traces);

  // Metrics: the limit first, so the catalog families registered next get it; then every
  // catalog family, so dashboards see them from the first scrape.
  metrics::Registry& registry = metrics::Registry::default_registry();
  registry.set_default_series_limit(config.metrics_series_limit);
  metrics::register_catalog();
  metrics::register_process_collector(registry);
  // The application's own identity beside the library's monitoring_build_info: which release
  // runs where, joinable onto every other series in a dashboard.
  auto or_unknown = [](const std::string& value) { return value.empty() ? "unknown" : value; };
  registry.info("bot_build", "The bot's release (SENTRY_RELEASE) and environment.")
      .set({{"version", or_unknown(config.sentry_release)},
            {"environment", or_unknown(config.sentry_environment)}});

  // Checkers before logging: a malformed DATABASE_URL or REDIS_URL fails setup before any
  // thread starts.
  state->health = std::make_unique<health::HealthChecker>(default_health_checker(config));
  state->readiness = std::make_unique<health::ReadinessChecker>(default_readiness_checker(config));

  // The port before anything that writes or sends: a second instance on a taken port fails
  // here, before it opens the log file or sends events from the shared offline cache.
  if (config.enable_monitoring_server) start_server(*state);

  logging::configure(logging_options(config));
  state->logging_started = true;
  start_sentry(*state);
  return MonitoringServer(std::move(state));
}

void shutdown_monitoring(MonitoringServer& server) {
  if (server.impl_) server.impl_->shutdown();
}

}  // namespace monitoring
