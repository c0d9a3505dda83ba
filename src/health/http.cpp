#include "monitoring/health/http.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <memory>
#include <span>
#include <utility>

#include "core/ascii.hpp"
#include "core/json_writer.hpp"
#include "core/time.hpp"
#include "health/engine.hpp"
#include "monitoring/error.hpp"
#include "net/http_client.hpp"

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

// ---- Probe detail: ?verbose, ?exclude=<check>, /health/<check> (kube-apiserver's model) ----

constexpr std::string_view kPlainText = "text/plain; charset=utf-8";
// What unauthenticated callers see instead of a check's message (as kube-apiserver says it).
constexpr std::string_view kWithheld = "reason withheld";
// Echoed user input (unknown names) is cut here, so a huge query cannot inflate the answer.
constexpr std::size_t kEchoedNameLimit = 128;
constexpr std::size_t kEchoedNamesLimit = 16;

struct ProbeQuery {
  bool verbose = false;
  std::vector<std::string> excluded;
};

// Query values may use '+' for space (HTML forms) as well as percent-encoding.
std::string decode_query_component(std::string_view text) {
  std::string spaced(text);
  for (char& c : spaced)
    if (c == '+') c = ' ';
  return common::percent_decode(spaced);
}

// Unknown parameters are ignored; "verbose" alone or with any value but 0/false turns text
// mode on; an empty "exclude=" excludes nothing.
ProbeQuery parse_probe_query(std::string_view query) {
  ProbeQuery parsed;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t equals = param.find('=');
    const std::string key = decode_query_component(param.substr(0, equals));
    const std::string value = equals == std::string_view::npos
                                  ? std::string()
                                  : decode_query_component(param.substr(equals + 1));
    if (key == "verbose") {
      parsed.verbose = value != "0" && value != "false";
    } else if (key == "exclude" && !value.empty()) {
      if (std::find(parsed.excluded.begin(), parsed.excluded.end(), value) == parsed.excluded.end())
        parsed.excluded.push_back(value);
    }
  }
  return parsed;
}

// User input quoted back in plain text: printable ASCII only (others become '?'), bounded.
std::string quoted_echo(std::string_view name) {
  std::string out = "\"";
  for (char c : name.substr(0, kEchoedNameLimit)) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  if (name.size() > kEchoedNameLimit) out += "...";
  out.push_back('"');
  return out;
}

std::vector<std::string_view> unmatched_exclusions(const ProbeQuery& query,
                                                   const std::vector<std::string>& names) {
  std::vector<std::string_view> unmatched;
  for (const auto& excluded : query.excluded)
    if (std::find(names.begin(), names.end(), excluded) == names.end())
      unmatched.push_back(excluded);
  return unmatched;
}

// One line of the text form; messages go on one line (a message's line breaks become spaces).
void append_probe_line(std::string& body, bool passed, std::string_view name,
                       std::string_view verdict, std::string_view message, bool details) {
  body += passed ? "[+]" : "[-]";
  body += name;
  body += ' ';
  body += verdict;
  if (verdict != "ok") {
    body += ": ";
    const std::size_t start = body.size();
    body += details ? message : kWithheld;
    for (std::size_t i = start; i < body.size(); ++i)
      if (body[i] == '\n' || body[i] == '\r') body[i] = ' ';
  }
  body += '\n';
}

void append_check_lines(std::string& body, const std::vector<CheckOutcome>& checks, bool details) {
  for (const auto& check : checks) {
    switch (check.status) {
      case Status::healthy:
        append_probe_line(body, true, check.name, "ok", {}, details);
        break;
      case Status::degraded:
        append_probe_line(body, true, check.name, "degraded", check.message, details);
        break;
      case Status::unhealthy:
        append_probe_line(body, !check.critical, check.name,
                          check.critical ? "failed" : "failed (non-critical)", check.message,
                          details);
        break;
    }
  }
}

void append_probe_footer(std::string& body, const std::vector<std::string_view>& unmatched,
                         std::string_view probe, bool passed) {
  if (!unmatched.empty()) {
    body += "warn: some health checks cannot be excluded: no matches for ";
    for (std::size_t i = 0; i < unmatched.size() && i < kEchoedNamesLimit; ++i) {
      if (i > 0) body += ',';
      body += quoted_echo(unmatched[i]);
    }
    if (unmatched.size() > kEchoedNamesLimit) body += ",...";
    body += '\n';
  }
  body += probe;
  body += passed ? " check passed\n" : " check failed\n";
}

server::Response text_response(unsigned status, std::string body, bool vary_authorization) {
  server::Response response;
  response.status = status;
  response.content_type = std::string(kPlainText);
  response.body = std::move(body);
  response.headers.emplace_back("Cache-Control", "no-store");
  response.headers.emplace_back("Vary", vary_authorization ? "Accept, Authorization" : "Accept");
  return response;
}

server::Response verbose_health_response(const HealthReport& report,
                                         const std::vector<std::string_view>& unmatched,
                                         bool details, const HealthRouteOptions& options) {
  std::string body;
  append_check_lines(body, report.checks, details);
  append_probe_footer(body, unmatched, "health", report.http_status() == 200);
  return text_response(report.http_status(), std::move(body), !options.auth_token.empty());
}

server::Response verbose_readiness_response(const ReadinessReport& report,
                                            const std::vector<std::string_view>& unmatched,
                                            bool details, const HealthRouteOptions& options) {
  std::string body;
  append_probe_line(body, report.started, "started", report.started ? "ok" : "failed",
                    "mark_started() not called yet", details);
  if (report.draining)
    append_probe_line(body, false, "draining", "failed", "shutdown began", details);
  append_check_lines(body, report.checks, details);
  append_probe_footer(body, unmatched, "readiness", report.ready);
  return text_response(report.http_status(), std::move(body), !options.auth_token.empty());
}

// /health/<check> for a name no check has.
server::Response unknown_check_response(std::string_view name, bool verbose,
                                        const HealthRouteOptions& options) {
  const std::string message = "no health check named " + quoted_echo(name);
  if (verbose) return text_response(404, message + "\n", !options.auth_token.empty());
  std::string body;
  JsonWriter json(body);
  json.begin_object().member("error", message).end_object();
  return json_response(404, kJson, std::move(body), !options.auth_token.empty());
}

// The check named by a request below a probe's path ("/health/<check>"); "" for the probe
// itself with a trailing slash. Percent-encoding is decoded, so "%2e%2e" is the name "..",
// which like any other unknown name only finds no check.
std::string check_name_below(std::string_view path, std::string_view probe_path) {
  return common::percent_decode(path.substr(probe_path.size() + 1));
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

server::Response live_response(const HeartbeatRegistry& heartbeats, bool details,
                               std::span<const std::string> excluded) {
  std::vector<HeartbeatRegistry::Entry> beats = heartbeats.snapshot();
  std::erase_if(beats, [&](const HeartbeatRegistry::Entry& beat) {
    return std::find(excluded.begin(), excluded.end(), beat.name) != excluded.end();
  });
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

namespace {

server::Response verbose_live_response(const HeartbeatRegistry& heartbeats, const ProbeQuery& query,
                                       bool details, bool vary_authorization) {
  std::vector<HeartbeatRegistry::Entry> beats = heartbeats.snapshot();
  std::vector<std::string> names;
  names.reserve(beats.size());
  for (const auto& beat : beats) names.push_back(beat.name);
  const std::vector<std::string_view> unmatched = unmatched_exclusions(query, names);
  std::string body;
  bool stale = false;
  for (const auto& beat : beats) {
    if (std::find(query.excluded.begin(), query.excluded.end(), beat.name) != query.excluded.end())
      continue;
    stale = stale || beat.stale;
    char message[96];
    std::snprintf(message, sizeof message, "no heartbeat for %.3f s (max %.3f s)", beat.age_seconds,
                  beat.max_age_seconds);
    append_probe_line(body, !beat.stale, beat.name, beat.stale ? "failed" : "ok", message, details);
  }
  append_probe_footer(body, unmatched, "liveness", !stale);
  return text_response(stale ? 503 : 200, std::move(body), vary_authorization);
}

}  // namespace

void install_live_route(server::HttpServer& server, const HealthRouteOptions& options) {
  const HeartbeatRegistry* heartbeats =
      options.heartbeats != nullptr ? options.heartbeats : &HeartbeatRegistry::global();
  server.route(options.live_path,
               [heartbeats, token = options.auth_token](const server::Request& request) {
                 const bool details = bearer_authorized(request.header("Authorization"), token);
                 const ProbeQuery query = parse_probe_query(request.query);
                 if (query.verbose)
                   return verbose_live_response(*heartbeats, query, details, !token.empty());
                 if (query.excluded.empty()) return live_response(*heartbeats, details);
                 // Excluded heartbeats neither count nor show: answer from the others only.
                 return live_response(*heartbeats, details, query.excluded);
               });
}

namespace {

// Serves /health, /health/ and /health/<check>.
void answer_health(const std::shared_ptr<detail::CheckEngine>& engine,
                   const std::shared_ptr<const HealthRouteOptions>& options,
                   const server::Request& request, server::Responder respond) {
  const bool details = bearer_authorized(request.header("Authorization"), options->auth_token);
  const bool health_json = accepts_health_json(request.header("Accept"));
  ProbeQuery query = parse_probe_query(request.query);
  std::string only = request.path.size() > options->health_path.size()
                         ? check_name_below(request.path, options->health_path)
                         : std::string();
  const std::vector<std::string> names = engine->names();
  if (!only.empty()) {
    if (std::find(names.begin(), names.end(), only) == names.end()) {
      respond(unknown_check_response(only, query.verbose, *options));
      return;
    }
    query.excluded.clear();  // one check asked for by name: nothing else to leave out
  }
  std::vector<std::string> unmatched_names;
  for (std::string_view name : unmatched_exclusions(query, names))
    unmatched_names.emplace_back(name);
  auto selected = [&query, &only](std::string_view name) {
    if (!only.empty()) return name == only;
    return std::find(query.excluded.begin(), query.excluded.end(), name) == query.excluded.end();
  };
  engine->collect(
      [respond = std::move(respond), details, health_json, verbose = query.verbose,
       unmatched_names = std::move(unmatched_names), options](std::vector<CheckOutcome> outcomes) {
        HealthReport report = detail::make_health_report(std::move(outcomes));
        if (verbose) {
          const std::vector<std::string_view> unmatched(unmatched_names.begin(),
                                                        unmatched_names.end());
          respond(verbose_health_response(report, unmatched, details, *options));
          return;
        }
        respond(health_response(report, details, health_json, *options));
      },
      selected);
}

// Serves /ready, /ready/ and /ready/<check>.
void answer_readiness(const std::shared_ptr<detail::ReadinessState>& state,
                      const std::shared_ptr<const HealthRouteOptions>& options,
                      const server::Request& request, server::Responder respond) {
  const bool details = bearer_authorized(request.header("Authorization"), options->auth_token);
  ProbeQuery query = parse_probe_query(request.query);
  std::string only = request.path.size() > options->ready_path.size()
                         ? check_name_below(request.path, options->ready_path)
                         : std::string();
  const std::vector<std::string> names = state->engine->names();
  if (!only.empty()) {
    if (std::find(names.begin(), names.end(), only) == names.end()) {
      respond(unknown_check_response(only, query.verbose, *options));
      return;
    }
    query.excluded.clear();
  }
  std::vector<std::string> unmatched_names;
  for (std::string_view name : unmatched_exclusions(query, names))
    unmatched_names.emplace_back(name);
  auto answer = [respond = std::move(respond), details, verbose = query.verbose,
                 unmatched_names = std::move(unmatched_names), state,
                 options](std::vector<CheckOutcome> outcomes) {
    ReadinessReport report = detail::make_readiness_report(*state, std::move(outcomes));
    if (verbose) {
      const std::vector<std::string_view> unmatched(unmatched_names.begin(), unmatched_names.end());
      respond(verbose_readiness_response(report, unmatched, details, *options));
      return;
    }
    respond(readiness_response(report, details, *options));
  };
  // A draining instance is not ready whatever its checks say: they are not run.
  if (state->draining.load(std::memory_order_acquire)) {
    answer({});
    return;
  }
  state->engine->collect(std::move(answer), [&query, &only](std::string_view name) {
    if (!only.empty()) return name == only;
    return std::find(query.excluded.begin(), query.excluded.end(), name) == query.excluded.end();
  });
}

}  // namespace

void install_health_routes(server::HttpServer& server, const HealthChecker& health,
                           const ReadinessChecker& readiness, const HealthRouteOptions& options) {
  auto engine = detail::Access::engine(health);
  auto state = detail::Access::state(readiness);
  if (!engine || !state) throw Error("install_health_routes: a checker was moved from");
  auto shared_options = std::make_shared<const HealthRouteOptions>(options);

  auto health_handler = [engine, shared_options](const server::Request& request,
                                                 server::Responder respond) {
    answer_health(engine, shared_options, request, std::move(respond));
  };
  server.route_async(options.health_path, health_handler);
  server.route_async(options.health_path + "/*", health_handler);

  auto ready_handler = [state, shared_options](const server::Request& request,
                                               server::Responder respond) {
    answer_readiness(state, shared_options, request, std::move(respond));
  };
  server.route_async(options.ready_path, ready_handler);
  server.route_async(options.ready_path + "/*", ready_handler);

  if (options.install_live) install_live_route(server, options);
}

}  // namespace monitoring::health
