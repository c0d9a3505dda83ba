// Event and span ids and RFC 3339 timestamps.

#include "sentry/ids.hpp"

#include <cstdint>
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

std::string new_session_id() {
  std::random_device entropy;
  unsigned char bytes[16];
  for (std::size_t i = 0; i < sizeof bytes; i += 4) {
    const std::uint32_t word = entropy();
    for (std::size_t j = 0; j < 4; ++j) bytes[i + j] = static_cast<unsigned char>(word >> (8 * j));
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  char text[37];
  std::snprintf(text, sizeof text,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
                bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8],
                bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
  return text;
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
