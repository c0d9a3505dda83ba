#pragma once

// The demo's own knobs (DEMO_*); the monitoring settings come from MonitoringConfig::from_env.

#include <cstdint>
#include <optional>

namespace demo {

/// Settings of the simulated bot.
struct DemoOptions {
  std::uint64_t seed = 2024;  ///< DEMO_SEED: same seed, same traffic statistics
  double speed = 1.0;         ///< DEMO_SPEED: multiplies event rates and the compressed day
  std::optional<double> duration_seconds;  ///< DEMO_DURATION_SECONDS: exit after this long
  int threads = 2;                         ///< DEMO_THREADS: worker threads of the simulation

  /// Reads DEMO_SEED, DEMO_SPEED, DEMO_DURATION_SECONDS and DEMO_THREADS. Throws
  /// monitoring::ConfigError naming the variable for a bad value.
  static DemoOptions from_env();
};

}  // namespace demo
