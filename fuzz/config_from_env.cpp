// MonitoringConfig::from_env over arbitrary environments.
//
// Input: records "NAME=value" separated by NUL bytes (an environment cannot hold NUL), for the
// variables from_env reads; other names are ignored, a repeated name keeps the last value.
// Before the call the harness plants a marker secret:
//   - in the password of a URL in every value: "scheme://user:" + marker + "...@" (the first
//     "://" after a scheme-like word (a letter first) not preceded by '/', whose authority has
//     a ':' before its last '@');
//   - in the key of SENTRY_DSN ("scheme://" + marker + "...@");
//   - in the middle of TELEGRAM_TOKEN and MONITORING_AUTH_TOKEN.
// Properties:
//   - from_env throws nothing but ConfigError;
//   - a ConfigError message never contains the marker, names a variable of the input first,
//     and has no control characters (it stays one log line);
//   - a config from_env accepted also passes validate() (the same rules).

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "monitoring/error.hpp"
#include "monitoring/monitor.hpp"

namespace {

constexpr std::string_view kMarker = "Zq9Secret";

constexpr std::string_view kVariables[] = {
    "LOG_LEVEL",
    "LOG_DIR",
    "USE_JSON_LOGS",
    "SENTRY_DSN",
    "SENTRY_ENVIRONMENT",
    "SENTRY_TRACES_SAMPLE_RATE",
    "MONITORING_HOST",
    "MONITORING_PORT",
    "ENABLE_MONITORING_SERVER",
    "DATABASE_URL",
    "REDIS_URL",
    "TELEGRAM_TOKEN",
    "PANEL_URL",
    "PAYMENT_SYSTEMS",
    "TELEGRAM_API_URL",
    "MIGRATIONS_TABLE",
    "MIGRATIONS_EXPECTED_VERSION",
    "SENTRY_RELEASE",
    "SENTRY_CACHE_DIR",
    "SENTRY_SAMPLE_RATE",
    "LOG_LEVELS",
    "LOG_MAX_BYTES",
    "LOG_BACKUP_COUNT",
    "LOG_CONSOLE",
    "MONITORING_AUTH_TOKEN",
    "MONITORING_SERVER_THREADS",
    "MONITORING_MAX_CONNECTIONS",
    "MONITORING_MAX_HEADER_BYTES",
    "MONITORING_READ_TIMEOUT_MS",
    "MONITORING_KEEP_ALIVE_TIMEOUT_MS",
    "MONITORING_WRITE_TIMEOUT_MS",
    "MONITORING_SHUTDOWN_GRACE_MS",
    "MONITORING_DRAIN_MS",
    "METRICS_SERIES_LIMIT",
};

bool is_known(std::string_view name) {
  for (std::string_view known : kVariables)
    if (name == known) return true;
  return false;
}

bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_scheme_char(char c) {
  return is_letter(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}
// Ends an authority: the URL delimiters, a list separator, and whatever ends a URL in text;
// in "name=value" lists also '='.
bool ends_authority(char c, bool pair_list) {
  if (pair_list && c == '=') return true;  // "name=url" lists split there first
  const auto byte = static_cast<unsigned char>(c);
  return byte <= 0x20 || byte == 0x7f ||
         std::string_view("/?#,;\"'`<>").find(c) != std::string_view::npos;
}

/// Plants the marker in the first URL of `value` that has user-info: after the first ':'
/// of the user-info (the password), or, with `key`, right after "://" (a DSN key). Returns
/// whether it planted.
bool plant_in_url(std::string& value, bool key, bool pair_list) {
  for (std::size_t sep = value.find("://"); sep != std::string::npos;
       sep = value.find("://", sep + 1)) {
    std::size_t scheme = sep;
    while (scheme > 0 && is_scheme_char(value[scheme - 1])) --scheme;
    // A scheme starts with a letter, and a word right after '/' is a path segment, not a
    // scheme (the scrubber's rule too).
    if (scheme == sep || !is_letter(value[scheme]) || (scheme > 0 && value[scheme - 1] == '/'))
      continue;
    const std::size_t begin = sep + 3;
    std::size_t end = begin;
    while (end < value.size() && !ends_authority(value[end], pair_list)) ++end;
    const std::size_t at = value.rfind('@', end == 0 ? 0 : end - 1);
    if (at == std::string::npos || at < begin || at >= end) continue;
    if (key) {
      value.insert(begin, kMarker);
      return true;
    }
    const std::size_t colon = value.find(':', begin);
    if (colon == std::string::npos || colon > at) continue;
    value.insert(colon + 1, kMarker);
    return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.find(kMarker.substr(0, 4)) != std::string_view::npos) return 0;  // planted only

  std::map<std::string, std::string, std::less<>> env;
  std::size_t start = 0;
  while (start <= input.size()) {
    std::size_t end = input.find('\0', start);
    if (end == std::string_view::npos) end = input.size();
    const std::string_view record = input.substr(start, end - start);
    start = end + 1;
    const std::size_t equals = record.find('=');
    if (equals == std::string_view::npos || !is_known(record.substr(0, equals))) continue;
    env[std::string(record.substr(0, equals))] = std::string(record.substr(equals + 1));
  }

  for (auto& [name, value] : env) {
    if (name == "TELEGRAM_TOKEN" || name == "MONITORING_AUTH_TOKEN")
      value.insert(value.size() / 2, kMarker);
    else
      plant_in_url(value, name == "SENTRY_DSN", name == "PAYMENT_SYSTEMS" || name == "LOG_LEVELS");
  }

  const monitoring::EnvSource source = [&](std::string_view name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  monitoring::MonitoringConfig config;
  try {
    config = monitoring::MonitoringConfig::from_env(source);
  } catch (const monitoring::ConfigError& error) {
    const std::string_view message = error.what();
    fuzz::check(message.find(kMarker) == std::string_view::npos,
                "a ConfigError message shows a planted secret", message);
    bool names_variable = false;
    for (const auto& [name, value] : env)
      if (message.starts_with(name) && message.size() > name.size() &&
          (message[name.size()] == ':' || message[name.size()] == '['))
        names_variable = true;
    fuzz::check(names_variable, "a ConfigError message does not start with its variable", message);
    for (char c : message)
      fuzz::check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f,
                  "a ConfigError message has a control character", message);
    return 0;
  }
  try {
    config.validate();
  } catch (const monitoring::ConfigError& error) {
    fuzz::check(false, "validate() refuses what from_env accepted", error.what());
  }
  return 0;
}
