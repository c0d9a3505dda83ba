#pragma once

// The time source of the health component's time-driven state: heartbeat ages and result
// cache TTLs. Tests pass a clock they advance by hand; production keeps the default.

#include <chrono>
#include <functional>

namespace monitoring::health {

/// Returns "now" on the steady clock's time line. Must be thread-safe and never go back.
using Clock = std::function<std::chrono::steady_clock::time_point()>;

/// The default: std::chrono::steady_clock::now.
inline Clock default_clock() {
  return [] { return std::chrono::steady_clock::now(); };
}

}  // namespace monitoring::health
