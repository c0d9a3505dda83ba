// Event and span ids and RFC 3339 timestamps.

#include "sentry/ids.hpp"

#include <cstdio>
#include <ctime>
#include <random>
#include <string>

#include "core/time.hpp"
#include "monitoring/context.hpp"

namespace monitoring::sentry::detail {

std::string new_event_id() {
  std::string id = context::new_request_id();
  std::erase(id, '-');
  return id;
}

std::string new_span_id() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(engine()));
  return text;
}

std::string rfc3339(std::chrono::system_clock::time_point time) {
  return core::format_utc(time, 6);
}

}  // namespace monitoring::sentry::detail
