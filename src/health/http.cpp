#include "monitoring/health/http.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <memory>
#include <utility>

#include "core/ascii.hpp"
#include "core/json_writer.hpp"
#include "core/time.hpp"
#include "health/engine.hpp"
#include "monitoring/error.hpp"

namespace monitoring::health {

namespace {

using monitoring::detail::JsonWriter;

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kHealthJson = "application/health+json";

double round3(double value) {
  return std::round(value * 1000.0) / 1000.0;
}

// RFC 3339 UTC with milliseconds: 2024-05-01T12:34:56.789Z
std::string format_timestamp(std::chrono::system_clock::time_point time) {
  return core::format_utc(time, 3);
}

void write_checks(JsonWriter& json, const std::vector<CheckOutcome>& checks) {
  json.key("checks").begin_object();
  for (const auto& check : checks) {
    json.key(check.name).begin_object();
    json.member("status", to_string(check.status));
    json.member("latency_ms", round3(check.latency_ms));
    json.member("message", check.message);
    json.member("critical", check.critical);
    json.end_object();
  }
  json.end_object();
}

std::string_view ietf_status(Status status) {
  switch (status) {
    case Status::healthy:
      return "pass";
    case Status::degraded:
      return "warn";
    case Status::unhealthy:
      return "fail";
  }
  return "fail";
}

std::string_view component_type(std::string_view component) {
  for (std::string_view store : {"database", "redis", "cache", "connections", "migrations"})
    if (component == store) return "datastore";
  for (std::string_view system : {"telegram", "panel", "payment"})
    if (component == system) return "system";
  return "component";
}

// Accept lists: optional whitespace is spaces and tabs.
constexpr auto trim = core::trim_blanks;
using core::iequals;

// The q value of one Accept element's parameters ("; q=0.5"); 1 when absent, 0 when malformed.
double quality(std::string_view params) {
  while (!params.empty()) {
    std::size_t semicolon = params.find(';');
    std::string_view param = trim(params.substr(0, semicolon));
    params =
        semicolon == std::string_view::npos ? std::string_view() : params.substr(semicolon + 1);
    if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
      std::string_view number = param.substr(2);
      double q = 0;
      auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), q);
      if (error != std::errc() || end != number.data() + number.size() || q < 0 || q > 1) return 0;
      return q;
    }
  }
  return 1;
}

server::Response json_response(unsigned status, std::string_view content_type, std::string body,
                               bool vary_authorization) {
  server::Response response;
  response.status = status;
  response.content_type = std::string(content_type);
  response.body = std::move(body);
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back("Vary", vary_authorization ? "Accept, Authorization" : "Accept");
  return response;
}

server::Response health_response(const HealthReport& report, bool details, bool health_json,
                                 const HealthRouteOptions& options) {
  const bool vary = !options.auth_token.empty();
  std::string body;
  if (health_json) {
    if (details) {
      body = to_health_json(report, options.service_id, options.version);
    } else {
      JsonWriter json(body);
      json.begin_object().member("status", ietf_status(report.status)).end_object();
    }
    return json_response(report.http_status(), kHealthJson, std::move(body), vary);
  }
  if (details) {
    body = to_json(report);
  } else {
    JsonWriter json(body);
    json.begin_object().member("status", to_string(report.status)).end_object();
  }
  return json_response(report.http_status(), kJson, std::move(body), vary);
}

server::Response readiness_response(const ReadinessReport& report, bool details,
                                    const HealthRouteOptions& options) {
  std::string body;
  if (details) {
    body = to_json(report);
  } else {
    JsonWriter json(body);
    json.begin_object().member("ready", report.ready).end_object();
  }
  return json_response(report.http_status(), kJson, std::move(body), !options.auth_token.empty());
}

}  // namespace

std::string to_json(const HealthReport& report) {
  std::string body;
  body.reserve(128 + report.checks.size() * 112);
  JsonWriter json(body);
  json.begin_object();
  json.member("status", to_string(report.status));
  json.member("timestamp", format_timestamp(report.timestamp));
  json.member("uptime_seconds", round3(report.uptime_seconds));
  write_checks(json, report.checks);
  json.end_object();
  return body;
}

std::string to_health_json(const HealthReport& report, std::string_view service_id,
                           std::string_view version) {
  std::string body;
  JsonWriter json(body);
  json.begin_object();
  json.member("status", ietf_status(report.status));
  if (!version.empty()) json.member("version", version);
  if (!service_id.empty()) json.member("serviceId", service_id);
  json.member("description", "health of the service and its dependencies");
  json.key("checks").begin_object();
  // Checks named "<component>:<id>" (payment:yookassa) share one key, one array element each.
  std::vector<bool> written(report.checks.size(), false);
  for (std::size_t i = 0; i < report.checks.size(); ++i) {
    if (written[i]) continue;
    const std::string_view name = report.checks[i].name;
    const std::string_view component = name.substr(0, name.find(':'));
    json.key(std::string(component) + ":responseTime").begin_array();
    for (std::size_t j = i; j < report.checks.size(); ++j) {
      const CheckOutcome& check = report.checks[j];
      const std::string_view other = check.name;
      if (written[j] || other.substr(0, other.find(':')) != component) continue;
      written[j] = true;
      json.begin_object();
      if (const std::size_t colon = other.find(':'); colon != std::string_view::npos)
        json.member("componentId", other.substr(colon + 1));
      json.member("componentType", component_type(component));
      json.member("observedValue", round3(check.latency_ms));
      json.member("observedUnit", "ms");
      json.member("status", ietf_status(check.status));
      json.member("time", format_timestamp(check.checked_at));
      if (check.status != Status::healthy) json.member("output", check.message);
      json.end_object();
    }
    json.end_array();
  }
  json.end_object();
  json.end_object();
  return body;
}

std::string to_json(const ReadinessReport& report) {
  std::string body;
  JsonWriter json(body);
  json.begin_object();
  json.member("ready", report.ready);
  json.member("started", report.started);
  json.member("draining", report.draining);
  json.member("timestamp", format_timestamp(report.timestamp));
  write_checks(json, report.checks);
  json.end_object();
  return body;
}

bool accepts_health_json(std::string_view accept) noexcept {
  double health_q = 0;
  double json_q = -1;  // plain JSON is the default, so any acceptable alternative keeps it
  while (!accept.empty()) {
    std::size_t comma = accept.find(',');
    std::string_view element = accept.substr(0, comma);
    accept = comma == std::string_view::npos ? std::string_view() : accept.substr(comma + 1);
    std::size_t semicolon = element.find(';');
    std::string_view media = trim(element.substr(0, semicolon));
    double q = semicolon == std::string_view::npos ? 1.0 : quality(element.substr(semicolon + 1));
    if (iequals(media, kHealthJson))
      health_q = std::max(health_q, q);
    else if (iequals(media, kJson) || iequals(media, "application/*") || media == "*/*")
      json_q = std::max(json_q, q);
  }
  return health_q > 0 && health_q >= json_q;
}

bool bearer_authorized(std::string_view authorization, std::string_view token) noexcept {
  return token.empty() || server::bearer_token_matches(authorization, token);
}

double process_uptime_seconds() noexcept {
  return core::process_uptime_seconds();
}

server::Response live_response(const HeartbeatRegistry& heartbeats, bool details) {
  const std::vector<HeartbeatRegistry::Entry> beats = heartbeats.snapshot();
  bool stale = false;
  for (const auto& beat : beats) stale = stale || beat.stale;
  std::string body;
  body.reserve(64 + beats.size() * 80);
  JsonWriter json(body);
  json.begin_object();
  json.member("status", stale ? "stalled" : "alive");
  json.member("uptime_seconds", round3(process_uptime_seconds()));
  if (details && !beats.empty()) {
    json.key("heartbeats").begin_object();
    for (const auto& beat : beats) {
      json.key(beat.name).begin_object();
      json.member("age_seconds", round3(beat.age_seconds));
      json.member("max_age_seconds", round3(beat.max_age_seconds));
      json.member("stale", beat.stale);
      json.end_object();
    }
    json.end_object();
  }
  json.end_object();
  server::Response response;
  response.status = stale ? 503 : 200;
  response.content_type = std::string(kJson);
  response.body = std::move(body);
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

void install_live_route(server::HttpServer& server, const HealthRouteOptions& options) {
  const HeartbeatRegistry* heartbeats =
      options.heartbeats != nullptr ? options.heartbeats : &HeartbeatRegistry::global();
  server.route(options.live_path, [heartbeats,
                                   token = options.auth_token](const server::Request& request) {
    return live_response(*heartbeats, bearer_authorized(request.header("Authorization"), token));
  });
}

void install_health_routes(server::HttpServer& server, const HealthChecker& health,
                           const ReadinessChecker& readiness, const HealthRouteOptions& options) {
  auto engine = detail::Access::engine(health);
  auto state = detail::Access::state(readiness);
  if (!engine || !state) throw Error("install_health_routes: a checker was moved from");
  auto shared_options = std::make_shared<const HealthRouteOptions>(options);

  server.route_async(options.health_path, [engine, shared_options](const server::Request& request,
                                                                   server::Responder respond) {
    const bool details =
        bearer_authorized(request.header("Authorization"), shared_options->auth_token);
    const bool health_json = accepts_health_json(request.header("Accept"));
    engine->collect([respond = std::move(respond), details, health_json,
                     shared_options](std::vector<CheckOutcome> outcomes) {
      respond(health_response(detail::make_health_report(std::move(outcomes)), details, health_json,
                              *shared_options));
    });
  });

  server.route_async(options.ready_path, [state, shared_options](const server::Request& request,
                                                                 server::Responder respond) {
    const bool details =
        bearer_authorized(request.header("Authorization"), shared_options->auth_token);
    if (state->draining.load(std::memory_order_acquire)) {
      respond(
          readiness_response(detail::make_readiness_report(*state, {}), details, *shared_options));
      return;
    }
    state->engine->collect([respond = std::move(respond), details, state,
                            shared_options](std::vector<CheckOutcome> outcomes) {
      respond(readiness_response(detail::make_readiness_report(*state, std::move(outcomes)),
                                 details, *shared_options));
    });
  });

  if (options.install_live) install_live_route(server, options);
}

}  // namespace monitoring::health
