#pragma once

// Time helpers shared by the components: the process's uptime (for /health and /live).

namespace monitoring::core {

/// Seconds since this process started (from /proc; since the library loaded if /proc is
/// unreadable).
double process_uptime_seconds() noexcept;

}  // namespace monitoring::core
