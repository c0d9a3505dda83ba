// Level names, LOG_LEVELS syntax and LoggingOptions::from_env.

#include "monitoring/logging/options.hpp"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <string>

#include "core/ascii.hpp"
#include "monitoring/error.hpp"
#include "monitoring/logging/level.hpp"

namespace monitoring::logging {
namespace {

// Environment values: surrounding spaces and tabs are ignored, other characters are not.
constexpr auto trim = core::trim_blanks;
constexpr auto equals_ignore_case = core::iequals;

const char* env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

std::uint64_t parse_unsigned(const char* variable, std::string_view text, bool allow_suffix) {
  const std::string_view original = text;
  text = trim(text);
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  std::string_view suffix =
      trim(std::string_view(end, static_cast<std::size_t>(text.data() + text.size() - end)));
  std::uint64_t multiplier = 1;
  if (allow_suffix && !suffix.empty()) {
    // K/M/G (also KB, MB, GB, KiB, MiB, GiB): powers of 1024, as sizes of files.
    const char unit =
        suffix.front() >= 'a' ? static_cast<char>(suffix.front() - 'a' + 'A') : suffix.front();
    const std::string_view rest = suffix.substr(1);
    if ((unit == 'K' || unit == 'M' || unit == 'G') &&
        (rest.empty() || equals_ignore_case(rest, "B") || equals_ignore_case(rest, "iB"))) {
      multiplier = unit == 'K' ? 1024 : unit == 'M' ? 1024 * 1024 : 1024 * 1024 * 1024;
      suffix = {};
    }
  }
  if (error != std::errc() || end == text.data() || !suffix.empty() ||
      value > std::numeric_limits<std::uint64_t>::max() / multiplier) {
    throw ConfigError(
        std::string(variable) + ": expected " +
        (allow_suffix ? "a byte count such as 10485760 or 10MB" : "a non-negative integer") +
        ", got \"" + std::string(original) + "\"");
  }
  return value * multiplier;
}

bool parse_bool(const char* variable, std::string_view text) {
  const std::string_view value = trim(text);
  for (const std::string_view yes : {"1", "true", "yes", "on"})
    if (equals_ignore_case(value, yes)) return true;
  for (const std::string_view no : {"0", "false", "no", "off"})
    if (equals_ignore_case(value, no)) return false;
  throw ConfigError(std::string(variable) + ": expected true or false, got \"" + std::string(text) +
                    "\"");
}

}  // namespace

std::string_view level_name(Level level) noexcept {
  switch (level) {
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO";
    case Level::kWarning:
      return "WARNING";
    case Level::kError:
      return "ERROR";
    case Level::kCritical:
      return "CRITICAL";
    case Level::kOff:
      return "OFF";
  }
  return "OFF";
}

Level parse_level(std::string_view text) {
  const std::string_view value = trim(text);
  struct Name {
    std::string_view name;
    Level level;
  };
  static constexpr Name kNames[] = {
      {"debug", Level::kDebug},    {"info", Level::kInfo},   {"warning", Level::kWarning},
      {"warn", Level::kWarning},   {"error", Level::kError}, {"critical", Level::kCritical},
      {"fatal", Level::kCritical}, {"off", Level::kOff},     {"none", Level::kOff},
  };
  for (const Name& name : kNames)
    if (equals_ignore_case(value, name.name)) return name.level;
  throw ConfigError("log level \"" + std::string(text) +
                    "\" is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL, OFF");
}

ModuleLevels parse_module_levels(std::string_view text) {
  ModuleLevels levels;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view item = trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (item.empty()) continue;
    const std::size_t equals = item.find('=');
    const std::string_view module =
        equals == std::string_view::npos ? std::string_view() : trim(item.substr(0, equals));
    if (module.empty())
      throw ConfigError("log levels: expected module=LEVEL, got \"" + std::string(item) + "\"");
    try {
      levels[std::string(module)] = parse_level(item.substr(equals + 1));
    } catch (const ConfigError& error) {
      throw ConfigError("log levels: \"" + std::string(item) + "\": " + error.what());
    }
  }
  return levels;
}

LoggingOptions LoggingOptions::from_env() {
  LoggingOptions options;
  if (const char* value = env("LOG_LEVEL")) {
    try {
      options.level = parse_level(value);
    } catch (const ConfigError& error) {
      throw ConfigError(std::string("LOG_LEVEL: ") + error.what());
    }
  }
  if (const char* value = env("LOG_LEVELS")) {
    try {
      options.module_levels = parse_module_levels(value);
    } catch (const ConfigError& error) {
      throw ConfigError(std::string("LOG_LEVELS: ") + error.what());
    }
  }
  if (const char* value = env("LOG_DIR")) options.log_dir = value;
  if (const char* value = env("USE_JSON_LOGS")) options.json = parse_bool("USE_JSON_LOGS", value);
  if (const char* value = env("LOG_MAX_BYTES"))
    options.max_bytes = parse_unsigned("LOG_MAX_BYTES", value, true);
  if (const char* value = env("LOG_BACKUP_COUNT")) {
    const std::uint64_t count = parse_unsigned("LOG_BACKUP_COUNT", value, false);
    if (count > 10000)
      throw ConfigError("LOG_BACKUP_COUNT: at most 10000 backups, got \"" + std::string(value) +
                        "\"");
    options.backup_count = static_cast<unsigned>(count);
  }
  if (const char* value = env("LOG_BACKTRACE")) {
    const std::uint64_t count = parse_unsigned("LOG_BACKTRACE", value, false);
    if (count > kMaxBacktrace)
      throw ConfigError("LOG_BACKTRACE: at most " + std::to_string(kMaxBacktrace) +
                        " records per thread, got \"" + std::string(value) + "\"");
    options.backtrace = static_cast<std::size_t>(count);
  }
  return options;
}

}  // namespace monitoring::logging
