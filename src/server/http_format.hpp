#pragma once

// Small, allocation-free pieces of HTTP/1.1 text handling used by the server.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/ascii.hpp"

namespace monitoring::server::detail {

/// Reason phrase for a status code ("" for codes without a registered phrase).
std::string_view reason_phrase(unsigned status) noexcept;

/// Length of an IMF-fixdate header line "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n".
inline constexpr std::size_t kDateLineSize = 37;
/// Writes the Date header line for `unix_seconds` into `out` (kDateLineSize bytes, no NUL).
void format_date_line(std::int64_t unix_seconds, char* out) noexcept;

/// RFC 9110 token (header names, methods).
bool is_token(std::string_view text) noexcept;
/// A header value that cannot split a response: no CR, LF or NUL.
bool is_safe_field_value(std::string_view text) noexcept;
using core::iequals;

/// Appends the decimal form of `value`.
void append_decimal(std::string& out, std::uint64_t value);

/// Splits a request target into path and query. Origin form "/p?q" gives ("/p", "q");
/// absolute form "http://host/p?q" gives ("/p", "q"); "*" gives ("*", "").
struct TargetParts {
  std::string_view path;
  std::string_view query;
};
TargetParts split_target(std::string_view target) noexcept;

/// Monotonic and wall clocks at tick resolution (a few ms): cheap enough to read per request.
std::int64_t coarse_monotonic_ns() noexcept;
std::int64_t coarse_unix_seconds() noexcept;

/// "host:port", with brackets around an IPv6 host, for messages.
std::string host_port(std::string_view host, unsigned port);

}  // namespace monitoring::server::detail
