#pragma once

// The checkers setup_monitoring builds from a MonitoringConfig, for applications that serve
// /health and /ready themselves (health::install_health_routes) or test their configuration.

#include "monitoring/health/checker.hpp"
#include "monitoring/monitor.hpp"

namespace monitoring {

/// The default /health checks: `database` (critical), `redis` (critical), `telegram`, `panel`
/// and `payment:<name>` (non-critical), each only when its URL or token is configured. They
/// refresh in the background at `timing`'s intervals. Registers the metric catalog: the panel
/// check feeds `panel_api_response_time{endpoint="health_check"}` and each payment check
/// sets `payment_system_availability`. Throws ConfigError naming the malformed setting.
health::HealthChecker default_health_checker(const MonitoringConfig& config,
                                             health::CheckerOptions options = {},
                                             health::DefaultChecksOptions timing = {});

/// The default /ready checks, all critical: `migrations` (when database_url and
/// migrations_table are set), `connections` (database_url) and `cache` (redis_url).
health::ReadinessChecker default_readiness_checker(const MonitoringConfig& config,
                                                   health::CheckerOptions options = {},
                                                   health::DefaultChecksOptions timing = {});

}  // namespace monitoring
