#pragma once

// Identifiers and timestamps as Sentry writes them: event ids, span ids and RFC 3339 times.
// Kept apart from the event model so the capture path, tracing and the disk cache can make
// ids without pulling in serialization.

#include <chrono>
#include <string>

namespace monitoring::sentry::detail {

/// A 32-hex-digit id (UUIDv4 without dashes).
std::string new_event_id();
/// A UUIDv4 with dashes, from the system's entropy source on every call: a forked child must
/// not repeat its parent's next id (the per-thread generators are copied by fork).
std::string new_session_id();
/// A 16-hex-digit span id.
std::string new_span_id();
/// "2025-01-31T12:00:00.123456Z".
std::string rfc3339(std::chrono::system_clock::time_point time);

}  // namespace monitoring::sentry::detail
