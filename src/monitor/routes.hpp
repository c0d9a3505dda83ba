#pragma once

// The endpoints setup_monitoring installs on the monitoring server.

#include <string_view>

#include "monitoring/monitor.hpp"
#include "monitoring/server/http_server.hpp"

namespace monitoring::detail {

/// Whether `request` may see a route protected by `token` (always, when the token is empty);
/// otherwise fills `response` with the 401 and its WWW-Authenticate challenge.
bool authorize(const server::Request& request, std::string_view token, server::Response& response);

/// GET /metrics: the default registry in the format the Accept header asks for, gzip when
/// Accept-Encoding allows it, behind `Authorization: Bearer` when config.monitoring_auth_token
/// is set.
void install_metrics_route(server::HttpServer& server, const MonitoringConfig& config);

}  // namespace monitoring::detail
