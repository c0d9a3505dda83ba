#include "server/http_format.hpp"

#include <charconv>
#include <cstring>
#include <ctime>

namespace monitoring::server::detail {

std::string_view reason_phrase(unsigned status) noexcept {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "";
  }
}

void format_date_line(std::int64_t unix_seconds, char* out) noexcept {
  // Hand-formatted: strftime's %a/%b follow the process locale, HTTP dates must not.
  static constexpr char kDays[] = "SunMonTueWedThuFriSat";
  static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  const std::time_t seconds = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  auto two = [](char* p, int v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
  };
  std::memcpy(out, "Date: ", 6);
  std::memcpy(out + 6, kDays + 3 * tm.tm_wday, 3);
  out[9] = ',';
  out[10] = ' ';
  two(out + 11, tm.tm_mday);
  out[13] = ' ';
  std::memcpy(out + 14, kMonths + 3 * tm.tm_mon, 3);
  out[17] = ' ';
  const int year = tm.tm_year + 1900;
  two(out + 18, (year / 100) % 100);
  two(out + 20, year % 100);
  out[22] = ' ';
  two(out + 23, tm.tm_hour);
  out[25] = ':';
  two(out + 26, tm.tm_min);
  out[28] = ':';
  two(out + 29, tm.tm_sec);
  std::memcpy(out + 31, " GMT\r\n", 6);
}

bool is_token(std::string_view text) noexcept {
  if (text.empty()) return false;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    const bool alnum = (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
    if (alnum) continue;
    if (u == 0 || !std::strchr("!#$%&'*+-.^_`|~", c)) return false;
  }
  return true;
}

bool is_safe_field_value(std::string_view text) noexcept {
  for (char c : text)
    if (c == '\r' || c == '\n' || c == '\0') return false;
  return true;
}

void append_decimal(std::string& out, std::uint64_t value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, result.ptr);
}

TargetParts split_target(std::string_view target) noexcept {
  if (target == "*") return {target, {}};
  if (!target.empty() && target.front() != '/') {
    // Absolute form: drop "scheme://authority".
    const std::size_t scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos) return {target, {}};
    const std::size_t path_start = target.find_first_of("/?", scheme_end + 3);
    if (path_start == std::string_view::npos) return {"/", {}};
    target.remove_prefix(path_start);
    if (target.front() == '?') return {"/", target.substr(1)};
  }
  const std::size_t question = target.find('?');
  if (question == std::string_view::npos) return {target, {}};
  return {target.substr(0, question), target.substr(question + 1)};
}

std::int64_t coarse_monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t coarse_unix_seconds() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec);
}

std::string host_port(std::string_view host, unsigned port) {
  std::string out;
  const bool ipv6 = host.find(':') != std::string_view::npos && !host.starts_with('[');
  if (ipv6) out += '[';
  out += host;
  if (ipv6) out += ']';
  out += ':';
  append_decimal(out, port);
  return out;
}

}  // namespace monitoring::server::detail
