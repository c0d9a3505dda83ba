#pragma once

// The endpoints setup_monitoring installs on the monitoring server.

#include <optional>
#include <string_view>

#include "monitoring/monitor.hpp"
#include "monitoring/server/http_server.hpp"

namespace monitoring::detail {

/// nullopt when `request` may see a route protected by `token` (always, when the token is
/// empty); otherwise the 401 to send, with its WWW-Authenticate challenge.
std::optional<server::Response> refuse_unauthorized(const server::Request& request,
                                                    std::string_view token);

/// GET /metrics: the default registry in the format the Accept header asks for, gzip when
/// Accept-Encoding allows it, behind `Authorization: Bearer` when config.monitoring_auth_token
/// is set.
void install_metrics_route(server::HttpServer& server, const MonitoringConfig& config);

/// GET /loggers, GET and PUT /loggers/<module> ("root" is the root level): log levels read
/// and changed at runtime (README "Runtime log levels"). Reads and writes need the bearer
/// token when config.monitoring_auth_token is set; without a token, writes are refused
/// (403) unless config.loggers_writable.
void install_loggers_routes(server::HttpServer& server, const MonitoringConfig& config);

}  // namespace monitoring::detail
