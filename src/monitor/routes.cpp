#include "monitor/routes.hpp"

#include <string>

#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::detail {

bool authorize(const server::Request& request, std::string_view token, server::Response& response) {
  if (token.empty()) return true;
  const std::string_view authorization = request.header("Authorization");
  if (server::bearer_token_matches(authorization, token)) return true;
  response.status = 401;
  response.body = "authentication required\n";
  // RFC 6750 §3: a presented but wrong token is "invalid_token"; none at all gets no error.
  response.headers.emplace_back("WWW-Authenticate",
                                authorization.empty()
                                    ? "Bearer realm=\"monitoring\""
                                    : "Bearer realm=\"monitoring\", error=\"invalid_token\"");
  return false;
}

void install_metrics_route(server::HttpServer& server, const MonitoringConfig& config) {
  server.route("/metrics", [token = config.monitoring_auth_token](const server::Request& request) {
    server::Response response;
    if (!authorize(request, token, response)) return response;
    const auto format = metrics::negotiate_format(request.header("Accept"));
    response.content_type = std::string(metrics::content_type(format));
    response.body = metrics::serialize(metrics::Registry::default_registry(), format);
    if (metrics::accepts_gzip(request.header("Accept-Encoding"))) {
      response.body = metrics::gzip_compress(response.body);
      response.headers.emplace_back("Content-Encoding", "gzip");
    }
    // Caches must key on both negotiated headers.
    response.headers.emplace_back("Vary", "Accept, Accept-Encoding");
    return response;
  });
}

}  // namespace monitoring::detail
