// Event and span ids and RFC 3339 timestamps.

#include "sentry/ids.hpp"

#include <cstdio>
#include <ctime>
#include <random>
#include <string>

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
  using namespace std::chrono;
  const auto micros = duration_cast<microseconds>(time.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  long fraction = static_cast<long>(micros % 1000000);
  if (fraction < 0) {
    fraction += 1000000;
    --seconds;
  }
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[96];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, fraction);
  return text;
}

}  // namespace monitoring::sentry::detail
