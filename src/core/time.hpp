#pragma once

// Time helpers shared by the components: the process's uptime (for /health and /live) and
// RFC 3339 timestamps (health reports, Sentry events).

#include <chrono>
#include <string>

namespace monitoring::core {

/// `time` as RFC 3339 UTC with `fraction_digits` (0..9) decimals of the second, e.g.
/// "2024-05-01T12:34:56.789Z" for 3. Locale-independent; times before 1970 round down.
std::string format_utc(std::chrono::system_clock::time_point time, int fraction_digits);

/// Seconds since this process started (from /proc; since the library loaded if /proc is
/// unreadable).
double process_uptime_seconds() noexcept;

}  // namespace monitoring::core
