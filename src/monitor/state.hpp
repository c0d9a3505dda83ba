#pragma once

// What a MonitoringServer owns. Components that setup_monitoring starts (server, logging,
// Sentry, health checkers) keep their state here and register how to stop it.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "monitoring/health/checker.hpp"
#include "monitoring/monitor.hpp"
#include "monitoring/server/http_server.hpp"

namespace monitoring {

/// The state behind a MonitoringServer handle.
struct MonitoringServer::Impl {
  explicit Impl(MonitoringConfig config_in) : config(std::move(config_in)) {}
  ~Impl() { shutdown(); }

  /// Runs `hook` at shutdown. Hooks run in reverse order of registration (the last
  /// component started is the first stopped), after the drain and the HTTP server stop.
  void on_shutdown(std::function<void()> hook) { shutdown_hooks.push_back(std::move(hook)); }

  /// Drains (/ready 503 for config.drain_period), stops the server, runs the hooks, once;
  /// later calls return at once. A hook that throws is skipped: the rest still run
  /// (shutdown must release everything).
  void shutdown() noexcept;

  const MonitoringConfig config;
  std::unique_ptr<health::HealthChecker> health;
  std::unique_ptr<health::ReadinessChecker> readiness;
  std::unique_ptr<server::HttpServer> http;  // null when the server is disabled
  std::uint16_t bound_port = 0;

  bool logging_started = false;

  std::mutex shutdown_mutex;
  bool shut_down = false;
  bool sentry_enabled = false;  // set once by setup, before the handle is returned
  std::vector<std::function<void()>> shutdown_hooks;
};

}  // namespace monitoring
