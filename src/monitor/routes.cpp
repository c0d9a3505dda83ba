#include "monitor/routes.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/json_writer.hpp"
#include "monitoring/logging/level.hpp"
#include "monitoring/logging/levels.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::detail {

std::optional<server::Response> refuse_unauthorized(const server::Request& request,
                                                    std::string_view token) {
  if (token.empty()) return std::nullopt;
  const std::string_view authorization = request.header("Authorization");
  if (server::bearer_token_matches(authorization, token)) return std::nullopt;
  server::Response response;
  response.status = 401;
  response.body = "authentication required\n";
  // RFC 6750 §3: a presented but wrong token is "invalid_token"; none at all gets no error.
  response.headers.emplace_back("WWW-Authenticate",
                                authorization.empty()
                                    ? "Bearer realm=\"monitoring\""
                                    : "Bearer realm=\"monitoring\", error=\"invalid_token\"");
  return response;
}

void install_metrics_route(server::HttpServer& server, const MonitoringConfig& config) {
  server.route("/metrics", [token = config.monitoring_auth_token](const server::Request& request) {
    if (auto refused = refuse_unauthorized(request, token)) return std::move(*refused);
    server::Response response;
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

namespace {

constexpr std::string_view kLoggersPrefix = "/loggers/";
constexpr std::string_view kRootName = "root";
// A level change is a few bytes; anything much larger is not one.
constexpr std::size_t kMaxLevelBody = 1024;

server::Response json_body(unsigned status, std::string body) {
  server::Response response;
  response.status = status;
  response.content_type = "application/json";
  response.body = std::move(body);
  response.body.push_back('\n');
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

server::Response json_error(unsigned status, std::string_view message) {
  std::string body;
  JsonWriter(body).begin_object().member("error", message).end_object();
  return json_body(status, std::move(body));
}

void write_levels(JsonWriter& json, std::optional<logging::Level> configured,
                  logging::Level effective) {
  json.begin_object().key("configuredLevel");
  if (configured)
    json.value(logging::level_name(*configured));
  else
    json.null();
  json.member("effectiveLevel", logging::level_name(effective)).end_object();
}

std::string all_levels_json() {
  const logging::LevelsSnapshot snapshot = logging::levels();
  std::string body;
  JsonWriter json(body);
  json.begin_object().key("levels").begin_array();
  for (const auto level : {logging::Level::kOff, logging::Level::kCritical, logging::Level::kError,
                           logging::Level::kWarning, logging::Level::kInfo, logging::Level::kDebug})
    json.value(logging::level_name(level));
  json.end_array().key("loggers").begin_object().key(kRootName);
  write_levels(json, snapshot.root, snapshot.root);
  for (const auto& module : snapshot.modules) {
    if (module.name == kRootName) continue;  // the name is the root level's here
    json.key(module.name);
    write_levels(json, module.configured, module.effective);
  }
  json.end_object().end_object();
  return body;
}

// The body of a PUT: {"level": "<LEVEL>"} or {"level": null} ("configuredLevel", Spring Boot
// Actuator's name, is accepted too). Flat on purpose: no nesting, no escapes a level name
// could need beyond \" \\ \/.
struct LevelRequest {
  std::optional<std::string> level;  // nullopt: JSON null
};

class LevelBodyParser {
 public:
  explicit LevelBodyParser(std::string_view text) : text_(text) {}

  // The request, or an error message for a 400.
  std::pair<std::optional<LevelRequest>, std::string> parse() {
    LevelRequest request;
    bool seen = false;
    skip_space();
    if (!take('{')) return fail("expected a JSON object such as {\"level\": \"DEBUG\"}");
    skip_space();
    if (!take('}')) {
      while (true) {
        skip_space();
        std::string key;
        if (!string(key)) return fail("expected a member name in quotes");
        skip_space();
        if (!take(':')) return fail("expected ':' after \"" + key + "\"");
        skip_space();
        if (key != "level" && key != "configuredLevel")
          return fail("unknown member \"" + key + "\": expected \"level\"");
        if (seen) return fail("\"level\" is given twice");
        seen = true;
        if (text_.substr(position_).starts_with("null")) {
          position_ += 4;
          request.level.reset();
        } else {
          std::string value;
          if (!string(value)) return fail("\"level\" must be a level name in quotes or null");
          request.level = std::move(value);
        }
        skip_space();
        if (take('}')) break;
        if (!take(',')) return fail("expected ',' or '}'");
      }
    }
    skip_space();
    if (position_ != text_.size()) return fail("unexpected text after the JSON object");
    if (!seen) return fail("missing \"level\": send {\"level\": \"DEBUG\"} or {\"level\": null}");
    return {std::move(request), {}};
  }

 private:
  static std::pair<std::optional<LevelRequest>, std::string> fail(std::string message) {
    return {std::nullopt, "malformed body: " + std::move(message)};
  }
  void skip_space() {
    while (position_ < text_.size() && (text_[position_] == ' ' || text_[position_] == '\t' ||
                                        text_[position_] == '\n' || text_[position_] == '\r'))
      ++position_;
  }
  bool take(char c) {
    if (position_ >= text_.size() || text_[position_] != c) return false;
    ++position_;
    return true;
  }
  bool string(std::string& out) {
    if (!take('"')) return false;
    while (position_ < text_.size()) {
      const char c = text_[position_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c == '\\') {
        if (position_ >= text_.size()) return false;
        const char escaped = text_[position_++];
        if (escaped != '"' && escaped != '\\' && escaped != '/') return false;
        out.push_back(escaped);
      } else {
        out.push_back(c);
      }
    }
    return false;
  }

  std::string_view text_;
  std::size_t position_ = 0;
};

// A quoted value for an error message, cut short and with control characters shown safely.
std::string quoted(std::string_view value) {
  std::string out = "\"";
  for (const char c : value.substr(0, 100))
    out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c);
  if (value.size() > 100) out += "...";
  out += "\"";
  return out;
}

server::Response put_level(const server::Request& request, std::string_view module) {
  if (request.body.size() > kMaxLevelBody)
    return json_error(413, "body of " + std::to_string(request.body.size()) +
                               " bytes is over the " + std::to_string(kMaxLevelBody) +
                               "-byte limit of a level change");
  auto [parsed, error] = LevelBodyParser(request.body).parse();
  if (!parsed) return json_error(400, error);
  std::optional<logging::Level> level;
  if (parsed->level) {
    try {
      level = logging::parse_level(*parsed->level);
    } catch (const ConfigError&) {
      return json_error(400, "unknown level " + quoted(*parsed->level) +
                                 ": expected DEBUG, INFO, WARNING, ERROR, CRITICAL or OFF");
    }
  }
  std::string body;
  JsonWriter json(body);
  if (module == kRootName) {
    if (!level)
      return json_error(400, "the root level cannot be reset to inheriting: give a level");
    logging::set_root_level(*level);
    write_levels(json, *level, *level);
  } else {
    logging::set_module_level(module, level);
    const logging::ModuleLevelInfo info = logging::module_level(module);
    write_levels(json, info.configured, info.effective);
  }
  return json_body(200, std::move(body));
}

}  // namespace

void install_loggers_routes(server::HttpServer& server, const MonitoringConfig& config) {
  server.route("/loggers", [token = config.monitoring_auth_token](const server::Request& request) {
    if (auto refused = refuse_unauthorized(request, token)) return std::move(*refused);
    return json_body(200, all_levels_json());
  });
  server.route(std::string(kLoggersPrefix) + "*",
               [token = config.monitoring_auth_token,
                writable = config.loggers_writable](const server::Request& request) {
                 const std::string_view module = request.path.substr(kLoggersPrefix.size());
                 if (request.method == "PUT" && token.empty() && !writable)
                   return json_error(
                       403,
                       "changing log levels is disabled: set MONITORING_AUTH_TOKEN (and send "
                       "it as a bearer token) or MONITORING_LOGGERS_WRITABLE=true");
                 if (auto refused = refuse_unauthorized(request, token)) return std::move(*refused);
                 try {
                   if (request.method == "PUT") return put_level(request, module);
                   if (module == kRootName) {
                     const logging::Level root = logging::levels().root;
                     std::string body;
                     JsonWriter json(body);
                     write_levels(json, root, root);
                     return json_body(200, std::move(body));
                   }
                   const logging::ModuleLevelInfo info = logging::module_level(module);
                   std::string body;
                   JsonWriter json(body);
                   write_levels(json, info.configured, info.effective);
                   return json_body(200, std::move(body));
                 } catch (const logging::InvalidModuleName& e) {
                   // A name no logger can have: a bad request to change, a resource that cannot
                   // exist.
                   return json_error(request.method == "PUT" ? 400 : 404, e.what());
                 }
               },
               {"GET", "PUT"});
}

}  // namespace monitoring::detail
