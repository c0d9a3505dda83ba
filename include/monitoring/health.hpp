#pragma once

// Health, readiness and liveness: HealthChecker (/health), ReadinessChecker (/ready), built-in
// checks (PostgreSQL, Redis, Telegram, panel, payment systems, migrations), heartbeats (/live)
// and the HTTP routes. Namespace monitoring::health; HealthChecker, ReadinessChecker,
// Heartbeat and heartbeat are also available in namespace monitoring.

#include "monitoring/error.hpp"
#include "monitoring/health/check.hpp"
#include "monitoring/health/checker.hpp"
#include "monitoring/health/checks.hpp"
#include "monitoring/health/clock.hpp"
#include "monitoring/health/heartbeat.hpp"
#include "monitoring/health/http.hpp"

namespace monitoring {
using health::HealthChecker;
using health::Heartbeat;
using health::heartbeat;
using health::ReadinessChecker;
}  // namespace monitoring
