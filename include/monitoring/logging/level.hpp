#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace monitoring::logging {

/// Severity of a log record, lowest first. `kOff` as a threshold disables a logger.
enum class Level : std::uint8_t { kDebug = 0, kInfo, kWarning, kError, kCritical, kOff };

/// "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "OFF".
std::string_view level_name(Level level) noexcept;

/// Parses a level name, case-insensitively: DEBUG, INFO, WARNING (or WARN), ERROR,
/// CRITICAL (or FATAL), OFF (or NONE). Throws ConfigError naming the value otherwise.
Level parse_level(std::string_view text);

/// Per-module thresholds: logger name (or dotted prefix) -> level.
using ModuleLevels = std::map<std::string, Level, std::less<>>;

/// Parses `LOG_LEVELS` syntax: "module=LEVEL,other.module=LEVEL" (spaces allowed around
/// items, empty items ignored). Throws ConfigError naming the bad item.
ModuleLevels parse_module_levels(std::string_view text);

}  // namespace monitoring::logging
