#pragma once

// Changing log levels while the process runs (the /loggers endpoint uses this).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "monitoring/error.hpp"
#include "monitoring/logging/level.hpp"

namespace monitoring::logging {

/// One module as the running process sees it (Spring Boot Actuator's loggers model).
struct ModuleLevelInfo {
  std::string name;
  /// Set for this exact name (LOG_LEVELS or set_module_level); nullopt: inherits.
  std::optional<Level> configured;
  /// What a logger of this name uses: its own level, else its longest dotted prefix's, else
  /// the root level.
  Level effective = Level::kInfo;
};

/// The root level and every module that has a level or a live logger, sorted by name.
struct LevelsSnapshot {
  Level root = Level::kInfo;
  std::vector<ModuleLevelInfo> modules;
};

/// Why a module name was refused: empty, over 200 bytes, a character other than
/// [A-Za-z0-9_.:-], or an empty dotted part ("a..b", ".a", "a.").
class InvalidModuleName : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

/// Sets the level of `module` (nullopt: removes it, so the module inherits from its dotted
/// parents or the root again) and applies it at once to every live logger it covers (the
/// name itself and its dotted children), on every thread; the log call keeps reading one
/// relaxed atomic. A module with no logger yet is fine: loggers created later pick it up.
/// The change is logged (module, old level, new level) at WARNING by the logger
/// "monitoring.loggers", whatever the levels say: silencing logs leaves a record of it. Returns the
/// previously configured level. Throws InvalidModuleName. The next configure() replaces every
/// runtime change with its options' levels.
std::optional<Level> set_module_level(std::string_view module, std::optional<Level> level);

/// Sets the root level (LOG_LEVEL; what modules without a level of their own use), applied
/// and logged as set_module_level. Returns the previous root level.
Level set_root_level(Level level);

/// The current root level and modules.
LevelsSnapshot levels();

/// One module's levels, also for a name that has neither a level nor a logger (then it
/// inherits). Throws InvalidModuleName.
ModuleLevelInfo module_level(std::string_view module);

}  // namespace monitoring::logging
