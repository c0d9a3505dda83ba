// Sentry levels: their wire names and the mapping from logging levels.

#include "monitoring/logging/level.hpp"

#include "monitoring/sentry/client.hpp"

namespace monitoring::sentry {

std::string_view level_name(Level level) noexcept {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarning:
      return "warning";
    case Level::kError:
      return "error";
    case Level::kFatal:
      return "fatal";
  }
  return "error";
}

Level from_log_level(logging::Level level) noexcept {
  switch (level) {
    case logging::Level::kDebug:
      return Level::kDebug;
    case logging::Level::kInfo:
      return Level::kInfo;
    case logging::Level::kWarning:
      return Level::kWarning;
    case logging::Level::kError:
      return Level::kError;
    default:
      return Level::kFatal;
  }
}

}  // namespace monitoring::sentry
