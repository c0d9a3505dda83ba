#pragma once

// The endpoints setup_monitoring installs on the monitoring server.

#include <string_view>

#include "monitoring/monitor.hpp"
#include "monitoring/server/http_server.hpp"

namespace monitoring::detail {

/// GET /metrics: the default registry in the format the Accept header asks for, gzip when
/// Accept-Encoding allows it, behind `Authorization: Bearer` when config.monitoring_auth_token
/// is set.
void install_metrics_route(server::HttpServer& server, const MonitoringConfig& config);

/// True when `authorization` is "Bearer <token>" (scheme case-insensitive, RFC 7235) with
/// exactly `token`. The comparison takes the same time wherever the first difference is.
bool bearer_token_matches(std::string_view authorization, std::string_view token) noexcept;

/// Seconds since this process started (from /proc; since the library loaded if /proc is
/// unreadable).
double process_uptime_seconds() noexcept;

}  // namespace monitoring::detail
