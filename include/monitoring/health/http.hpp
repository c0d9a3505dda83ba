#pragma once

// The /health, /ready and /live endpoints and their JSON renderings.

#include <span>
#include <string>
#include <string_view>

#include "monitoring/health/check.hpp"
#include "monitoring/health/checker.hpp"
#include "monitoring/health/heartbeat.hpp"
#include "monitoring/server/http_server.hpp"

namespace monitoring::health {

/// Options of the health endpoints.
struct HealthRouteOptions {
  /// When set, only requests with `Authorization: Bearer <auth_token>` see details (checks,
  /// heartbeats); others get the bare status ({"status": ...} / {"ready": ...}) with the same
  /// HTTP status code, so probes keep working. Compared in constant time.
  std::string auth_token;
  std::string health_path = "/health";
  std::string ready_path = "/ready";
  std::string live_path = "/live";
  /// Install the heartbeat-aware /live as well (otherwise only /health and /ready).
  bool install_live = true;
  /// Heartbeats /live watches; nullptr = HeartbeatRegistry::global().
  const HeartbeatRegistry* heartbeats = nullptr;
  /// Optional service identity for application/health+json ("serviceId", "version").
  std::string service_id;
  std::string version;
};

/// Registers /health and /ready as async routes, each with its subtree: /health/<check> and
/// /ready/<check> answer for that one check (404 naming an unknown one; /health/ is /health).
/// Every probe takes `?verbose` (plain text, one "[+]name ok" / "[-]name failed: <message>"
/// line per check, then "<probe> check passed|failed", like kube-apiserver's /readyz) and
/// `?exclude=<check>` (repeatable; excluded checks are neither run nor counted; an unknown name
/// is reported in a "warn:" line of the verbose form and otherwise ignored). Messages need the
/// token like the JSON details: without it the text form says "reason withheld". The checks
/// run on the checkers' executors, never on server threads; cached results are answered inline.
/// Unless disabled, also registers /live (?verbose and ?exclude too, over heartbeats) as
/// a synchronous route that touches no dependency. The routes share the checkers' state, so
/// they stay valid even if the checker objects are moved; once a checker is destroyed its
/// route answers with every check "checker stopped".
void install_health_routes(server::HttpServer& server, const HealthChecker& health,
                           const ReadinessChecker& readiness,
                           const HealthRouteOptions& options = {});

/// Registers only the heartbeat-aware /live route.
void install_live_route(server::HttpServer& server, const HealthRouteOptions& options = {});

/// The /live answer: 200 {"status":"alive","uptime_seconds":...,"heartbeats":{...}}, or 503
/// with "status":"stalled" when a heartbeat is stale. `details` false omits the heartbeats.
/// Heartbeats named in `excluded` (/live?exclude=<name>) neither count nor show, so an
/// operator can keep a known-stuck loop from restarting the pod while it is investigated.
server::Response live_response(const HeartbeatRegistry& heartbeats, bool details = true,
                               std::span<const std::string> excluded = {});

/// The /health JSON: {"status", "timestamp", "uptime_seconds", "checks": {name: {"status",
/// "latency_ms", "message", "critical"}}}.
std::string to_json(const HealthReport& report);
/// The same report in the IETF health check format (application/health+json): pass / warn /
/// fail, checks keyed "<component>:responseTime" with the part after a ':' in the check name
/// (payment:yookassa) as componentId.
std::string to_health_json(const HealthReport& report, std::string_view service_id = {},
                           std::string_view version = {});
/// The /ready JSON: {"ready", "started", "draining", "timestamp", "checks"}.
std::string to_json(const ReadinessReport& report);

/// True when `accept` (an Accept header) prefers application/health+json over plain JSON.
bool accepts_health_json(std::string_view accept) noexcept;

/// True when `authorization` is exactly "Bearer <token>" (scheme case-insensitive), compared
/// in constant time. An empty `token` means no protection: always true.
bool bearer_authorized(std::string_view authorization, std::string_view token) noexcept;

}  // namespace monitoring::health
