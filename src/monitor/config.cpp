// MonitoringConfig: reading the environment and validating fields.
//
// Every setting is described once, in kRules: its environment variable, its field name, how
// to parse the variable into the field and how to check the field. from_env() parses and
// checks under the variable's name; validate() checks under the field's name. So a config
// from the environment and one built in code obey exactly the same rules.

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/ascii.hpp"
#include "health/postgres.hpp"
#include "health/redis.hpp"
#include "monitoring/logging/options.hpp"
#include "monitoring/monitor.hpp"
#include "monitoring/scrub.hpp"
#include "monitoring/sentry/client.hpp"
#include "net/http_client.hpp"

namespace monitoring {
namespace {

using core::iequals;
using core::is_ascii_space;
using core::trim;

constexpr std::string_view kFiltered = Scrubber::kFiltered;
constexpr std::size_t kMaxShownChars = 120;  // long values are cut in messages

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_alnum(char c) noexcept {
  return is_alpha(c) || is_digit(c);
}
char to_upper(char c) noexcept {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool has_control_char(std::string_view text) noexcept {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool all_of(std::string_view text, bool (*pred)(char)) noexcept {
  return !text.empty() && std::all_of(text.begin(), text.end(), pred);
}

// --- showing values in messages ---------------------------------------------------------

/// `value` in double quotes, the user-info of anything URL-like removed (a URL pasted into
/// the wrong variable keeps its password hidden), control characters escaped (a message stays
/// one line), cut after kMaxShownChars.
std::string quoted(std::string_view raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string without_userinfo;
  const std::string_view value =
      Scrubber::redact_url_userinfo(raw, without_userinfo) ? without_userinfo : raw;
  std::string out = "\"";
  std::size_t shown = 0;
  for (char c : value) {
    if (shown++ == kMaxShownChars) {
      out += "...";
      break;
    }
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

/// For std::string arguments, which would otherwise find std::quoted (<iomanip>, which
/// <filesystem> includes) by argument-dependent lookup.
std::string quoted(const std::string& raw) {
  return quoted(std::string_view(raw));
}

/// `text` with control characters as \xNN, so a message quoting it stays one line.
std::string escape_controls(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

/// libpq key=value connection strings carry `password=...`; hide its value.
std::string redact_conninfo(std::string text) {
  std::size_t pos = 0;
  while ((pos = text.find('=', pos)) != std::string::npos) {
    std::size_t key_begin = pos;
    while (key_begin > 0 && (is_alnum(text[key_begin - 1]) || text[key_begin - 1] == '_'))
      --key_begin;
    const std::string_view key(text.data() + key_begin, pos - key_begin);
    std::size_t value_begin = pos + 1;
    while (value_begin < text.size() && text[value_begin] == ' ') ++value_begin;
    std::size_t value_end = value_begin;
    if (value_end < text.size() && text[value_end] == '\'') {  // quoted: up to the closing quote
      ++value_end;
      while (value_end < text.size() && text[value_end] != '\'')
        value_end += text[value_end] == '\\' ? 2 : 1;
      value_end = std::min(value_end + 1, text.size());
    } else {
      while (value_end < text.size() && !is_ascii_space(text[value_end])) ++value_end;
    }
    if (iequals(key, "password") || iequals(key, "sslpassword")) {
      text.replace(value_begin, value_end - value_begin, kFiltered);
      value_end = value_begin + kFiltered.size();
    }
    pos = value_end;
  }
  return text;
}

/// A URL with credentials, secret query parameters and bot tokens replaced by [Filtered].
std::string shown_url(std::string_view url) {
  return quoted(redact_conninfo(common::redact_url(url)));
}

std::string shown_number(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}
std::string shown_number(std::uint64_t value) {
  return std::to_string(value);
}
std::string shown_number(std::int64_t value) {
  return std::to_string(value);
}

[[noreturn]] void fail(std::string_view name, const std::string& shown_value,
                       std::string_view why) {
  throw ConfigError(std::string(name) + ": invalid value " + shown_value + ": " + std::string(why));
}

// --- parsing environment values -----------------------------------------------------------

bool parse_bool(std::string_view name, std::string_view value) {
  for (std::string_view yes : {"true", "1", "yes", "on"})
    if (iequals(value, yes)) return true;
  for (std::string_view no : {"false", "0", "no", "off"})
    if (iequals(value, no)) return false;
  fail(name, quoted(value), "expected a boolean: true/false, 1/0, yes/no or on/off");
}

/// A whole-string integer: optional '-', digits, nothing else (no '+', spaces, suffixes).
template <class T>
T parse_integer(std::string_view name, std::string_view value, std::string_view expected) {
  T result{};
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), result);
  if (error != std::errc() || end != value.data() + value.size())
    fail(name, quoted(value), expected);
  return result;
}

/// A whole-string finite decimal number ("0.25", "1e-3"); no "nan", "inf" or hex.
double parse_double(std::string_view name, std::string_view value, std::string_view expected) {
  double result = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), result,
                                            std::chars_format::general);
  if (error != std::errc() || end != value.data() + value.size() || !std::isfinite(result))
    fail(name, quoted(value), expected);
  return result;
}

/// A byte size: digits with an optional unit, as coreutils reads them. K, M, G, T, KiB, MiB,
/// GiB, TiB are powers of 1024; KB, MB, GB, TB powers of 1000; B or no unit is bytes. Units
/// are case-insensitive and may follow a space ("10 MiB").
std::uint64_t parse_byte_size(std::string_view name, std::string_view value) {
  constexpr std::string_view kExpected =
      "expected a byte count, optionally with a unit: B, K/KiB, M/MiB, G/GiB, T/TiB (1024-based) "
      "or KB, MB, GB, TB (1000-based)";
  std::size_t digits = 0;
  while (digits < value.size() && is_digit(value[digits])) ++digits;
  if (digits == 0) fail(name, quoted(value), kExpected);
  const auto number = parse_integer<std::uint64_t>(name, value.substr(0, digits), kExpected);
  const std::string_view unit = trim(value.substr(digits));
  if (digits < value.size() && unit.empty()) fail(name, quoted(value), kExpected);

  std::uint64_t multiplier = 0;
  if (unit.empty() || iequals(unit, "B")) multiplier = 1;
  static constexpr std::array<char, 4> kPrefixes = {'K', 'M', 'G', 'T'};
  for (std::size_t i = 0; i < kPrefixes.size() && multiplier == 0; ++i) {
    const std::string prefix(1, kPrefixes[i]);
    std::uint64_t binary = 1, decimal = 1;
    for (std::size_t k = 0; k <= i; ++k) {
      binary *= 1024;
      decimal *= 1000;
    }
    if (iequals(unit, prefix) || iequals(unit, prefix + "iB"))
      multiplier = binary;
    else if (iequals(unit, prefix + "B"))
      multiplier = decimal;
  }
  if (multiplier == 0) fail(name, quoted(value), kExpected);
  if (number > std::numeric_limits<std::uint64_t>::max() / multiplier)
    fail(name, quoted(value), "the size does not fit in 64 bits");
  return number * multiplier;
}

/// What parse_pairs does with an empty entry ("a=x,,b=y", a trailing comma, only spaces).
enum class EmptyEntries { kSkip, kReject };

/// Splits "a=x, b=y" into trimmed (key, value) pairs. An empty entry is skipped or, with
/// EmptyEntries::kReject, an error naming the whole value. An entry without '=' or with an
/// empty key is an error; values may contain '='. Messages show values with credentials
/// redacted (they may be URLs).
template <class Add>
void parse_pairs(std::string_view name, std::string_view text, std::string_view expected,
                 EmptyEntries empty_entries, Add add) {
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view entry = trim(text.substr(start, comma - start));
    start = comma + 1;
    if (entry.empty()) {
      if (empty_entries == EmptyEntries::kSkip) continue;
      fail(name, shown_url(text),
           "an empty entry (two commas in a row, or a comma at the start or end), " +
               std::string(expected));
    }
    const std::size_t equals = entry.find('=');
    const std::string_view key =
        equals == std::string_view::npos ? entry : trim(entry.substr(0, equals));
    if (equals == std::string_view::npos || key.empty())
      fail(name, shown_url(entry), "malformed entry, " + std::string(expected));
    add(key, trim(entry.substr(equals + 1)));
  }
}

// --- checking fields ----------------------------------------------------------------------

void check_not_empty(std::string_view name, std::string_view value) {
  if (value.empty()) fail(name, "\"\"", "must not be empty");
}

void check_no_control_chars(std::string_view name, std::string_view value) {
  if (has_control_char(value)) fail(name, quoted(value), "contains a control character");
}

void check_level(std::string_view name, std::string_view level) {
  if (!normalize_log_level(level))
    fail(name, quoted(level),
         "expected a log level: DEBUG, INFO, WARNING (or WARN), ERROR, CRITICAL");
}

void check_rate(std::string_view name, double rate) {
  if (!(rate >= 0.0 && rate <= 1.0))
    fail(name, shown_number(rate), "expected a rate between 0 and 1");
}

template <class T>
void check_range(std::string_view name, T value, T min, T max, std::string_view what) {
  if (value < min || value > max) {
    const std::string range = shown_number(static_cast<std::int64_t>(min)) + ".." +
                              shown_number(static_cast<std::int64_t>(max));
    if constexpr (std::is_signed_v<T>)
      fail(name, shown_number(static_cast<std::int64_t>(value)),
           "expected " + std::string(what) + " " + range);
    else
      fail(name, shown_number(static_cast<std::uint64_t>(value)),
           "expected " + std::string(what) + " " + range);
  }
}

void check_duration(std::string_view name, std::chrono::milliseconds value, std::int64_t min_ms,
                    std::int64_t max_ms) {
  check_range<std::int64_t>(name, value.count(), min_ms, max_ms, "milliseconds in");
}

/// What HttpServer accepts: "localhost" or an IPv4 / IPv6 literal, brackets allowed.
void check_host(std::string_view name, std::string_view host) {
  check_not_empty(name, host);
  std::string literal(host);
  if (literal.size() >= 2 && literal.front() == '[' && literal.back() == ']')
    literal = literal.substr(1, literal.size() - 2);
  if (const std::size_t percent = literal.find('%'); percent != std::string::npos && percent > 0) {
    literal.resize(percent);  // IPv6 zone id ("fe80::1%eth0")
  }
  unsigned char buffer[16];
  if (literal == "localhost" || ::inet_pton(AF_INET, literal.c_str(), buffer) == 1 ||
      ::inet_pton(AF_INET6, literal.c_str(), buffer) == 1)
    return;
  fail(name, quoted(host),
       "expected an IPv4 or IPv6 address (e.g. 0.0.0.0, 127.0.0.1, ::) or localhost");
}

/// The pieces of scheme://[userinfo@]host[:port][/path][?query] this file needs.
struct UrlParts {
  std::string_view scheme, userinfo, host, port, path;
  bool has_userinfo = false;
};

std::optional<UrlParts> split_url(std::string_view url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) return std::nullopt;
  UrlParts parts;
  parts.scheme = url.substr(0, scheme_end);
  if (!is_alpha(parts.scheme.front()) ||
      !std::all_of(parts.scheme.begin(), parts.scheme.end(),
                   [](char c) { return is_alnum(c) || c == '+' || c == '-' || c == '.'; }))
    return std::nullopt;
  std::string_view rest = url.substr(scheme_end + 3);
  const std::size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  parts.path =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    parts.has_userinfo = true;
    parts.userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
  }
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    parts.host = authority.substr(0, close + 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      parts.port = after.substr(1);
    }
  } else if (const std::size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    parts.host = authority.substr(0, colon);
    parts.port = authority.substr(colon + 1);
  } else {
    parts.host = authority;
  }
  return parts;
}

bool valid_url_port(std::string_view port) {
  if (port.empty()) return true;
  if (!all_of(port, is_digit) || port.size() > 5) return false;
  const int number = std::atoi(std::string(port).c_str());
  return number >= 1 && number <= 65535;
}

/// The one port rule of every URL variable: empty (the scheme's default) or 1..65535. The
/// message shows the URL redacted, never the port alone: a password with an unencoded '/'
/// or '@' puts a piece of itself where the port would be.
void check_url_port(std::string_view name, std::string_view url, std::string_view port) {
  if (!valid_url_port(port)) fail(name, shown_url(url), "the URL's port is not a number 1..65535");
}

bool has_space_or_control(std::string_view text) {
  return has_control_char(text) || text.find(' ') != std::string_view::npos;
}

/// An http(s) base URL with a host. Empty means "not configured" unless `required`.
void check_http_url(std::string_view name, std::string_view url, bool required) {
  if (url.empty()) {
    if (required) check_not_empty(name, url);
    return;
  }
  const auto parts = split_url(url);
  if (!parts || !(iequals(parts->scheme, "http") || iequals(parts->scheme, "https")))
    fail(name, shown_url(url), "expected an http:// or https:// URL");
  if (parts->host.empty()) fail(name, shown_url(url), "the URL has no host");
  check_url_port(name, url, parts->port);
  if (has_space_or_control(url))
    fail(name, shown_url(url), "the URL contains a space or control character");
}

/// Runs the parser the health check itself uses on `url`, so what passes here connects
/// there. Its ConfigError (which never carries the password) becomes the reason, with control
/// characters escaped: it may quote the URL, and the message must stay one line.
template <class Parse>
void check_with_component(std::string_view name, std::string_view url, Parse parse) {
  try {
    parse(url);
  } catch (const ConfigError& error) {
    fail(name, shown_url(url), escape_controls(error.what()));
  }
}

/// Calls `each(port)` for every port a PostgreSQL URL or libpq key=value string names, read
/// as libpq reads them: the port after each host of a URL's host list ("h1:5432,h2:5433"),
/// and each element of a `port` parameter (a URL's query parameter or a key=value keyword;
/// a comma-separated list). libpq only checks them when it connects.
template <class Each>
void for_each_database_port(std::string_view url, Each each) {
  auto each_of_list = [&](std::string_view list) {
    for (;;) {
      const std::size_t comma = list.find(',');
      each(list.substr(0, comma));
      if (comma == std::string_view::npos) return;
      list.remove_prefix(comma + 1);
    }
  };
  if (const std::size_t scheme_end = url.find("://"); scheme_end != std::string_view::npos) {
    const std::string_view rest = url.substr(scheme_end + 3);
    const std::size_t authority_end = rest.find_first_of("/?");
    std::string_view hosts = rest.substr(0, authority_end);
    if (const std::size_t at = hosts.rfind('@'); at != std::string_view::npos)
      hosts.remove_prefix(at + 1);
    for (;;) {
      const std::size_t comma = hosts.find(',');
      const std::string_view host = hosts.substr(0, comma);
      std::size_t port_colon = host.find(':');
      if (host.starts_with('[')) {  // [IPv6]:port
        const std::size_t close = host.find(']');
        port_colon = close == std::string_view::npos ? close : host.find(':', close);
      }
      if (port_colon != std::string_view::npos) each(host.substr(port_colon + 1));
      if (comma == std::string_view::npos) break;
      hosts.remove_prefix(comma + 1);
    }
    const std::size_t query = rest.find('?');
    if (query == std::string_view::npos) return;
    std::string_view parameters = rest.substr(query + 1);
    while (!parameters.empty()) {
      const std::size_t amp = parameters.find('&');
      const std::string_view parameter = parameters.substr(0, amp);
      if (parameter.starts_with("port=")) each_of_list(parameter.substr(5));
      parameters = amp == std::string_view::npos ? std::string_view() : parameters.substr(amp + 1);
    }
    return;
  }
  // key=value: keyword, optional spaces, '=', optional spaces, a value up to the next space or
  // in single quotes; a backslash escapes the next character.
  std::size_t i = 0;
  auto skip_spaces = [&] {
    while (i < url.size() && is_ascii_space(url[i])) ++i;
  };
  while (skip_spaces(), i < url.size()) {
    const std::size_t key_begin = i;
    while (i < url.size() && url[i] != '=' && !is_ascii_space(url[i])) ++i;
    const std::string_view key = url.substr(key_begin, i - key_begin);
    skip_spaces();
    if (i >= url.size() || url[i] != '=') return;  // libpq refused it already
    ++i;
    skip_spaces();
    std::string value;
    const bool quoted_value = i < url.size() && url[i] == '\'';
    if (quoted_value) ++i;
    while (i < url.size() && (quoted_value ? url[i] != '\'' : !is_ascii_space(url[i]))) {
      if (url[i] == '\\' && i + 1 < url.size()) ++i;
      value += url[i++];
    }
    if (quoted_value) ++i;  // the closing quote
    if (key == "port") each_of_list(value);
  }
}

/// A PostgreSQL URI (postgresql:// or postgres://) or a libpq key=value string, as libpq
/// parses it, with every port 1..65535 (libpq checks ports only when it connects).
void check_database_url(std::string_view name, std::string_view url) {
  if (url.empty()) return;
  if (has_control_char(url)) fail(name, shown_url(url), "contains a control character");
  if (url.find("://") == std::string_view::npos) {
    // key=value form, e.g. "host=/run/postgresql dbname=bot": starts with a keyword and '='.
    std::size_t key_end = 0;
    while (key_end < url.size() && (is_alnum(url[key_end]) || url[key_end] == '_')) ++key_end;
    std::size_t equals = key_end;
    while (equals < url.size() && url[equals] == ' ') ++equals;
    if (key_end == 0 || equals >= url.size() || url[equals] != '=')
      fail(name, shown_url(url),
           "expected a postgresql:// URL (postgresql://user:password@host:5432/db) or a libpq "
           "key=value string");
    for_each_database_port(url, [&](std::string_view port) { check_url_port(name, url, port); });
    return;
  }
  const auto parts = split_url(url);
  // SQLAlchemy-style "postgresql+asyncpg://" names a Python driver; the check drops it.
  const std::string_view scheme =
      parts ? std::string_view(parts->scheme).substr(0, parts->scheme.find('+')) : "";
  if (!parts || !(iequals(scheme, "postgresql") || iequals(scheme, "postgres")))
    fail(name, shown_url(url), "expected a postgresql:// or postgres:// URL");
  if (url.find(' ') != std::string_view::npos)
    fail(name, shown_url(url), "the URL contains a space");
  check_with_component(name, url, health::detail::normalize_database_url);
  for_each_database_port(url, [&](std::string_view port) { check_url_port(name, url, port); });
}

/// redis://[[user]:password@]host[:port][/db] or unix:///path/to/socket, as the redis check
/// parses it (rediss:// is refused there: this build's hiredis has no TLS).
void check_redis_url(std::string_view name, std::string_view url) {
  if (url.empty()) return;
  const auto parts = split_url(url);
  if (parts && iequals(parts->scheme, "rediss"))
    check_with_component(name, url, health::detail::parse_redis_url);
  if (!parts || !(iequals(parts->scheme, "redis") || iequals(parts->scheme, "unix")))
    fail(name, shown_url(url), "expected a redis:// or unix:// URL");
  if (has_space_or_control(url))
    fail(name, shown_url(url), "the URL contains a space or control character");
  if (iequals(parts->scheme, "unix")) {
    if (parts->path.size() < 2) fail(name, shown_url(url), "expected unix:///path/to/redis.sock");
    check_with_component(name, url, health::detail::parse_redis_url);
    return;
  }
  if (parts->host.empty()) fail(name, shown_url(url), "the URL has no host");
  check_url_port(name, url, parts->port);
  std::string_view db = parts->path.substr(0, parts->path.find_first_of("?#"));
  if (!db.empty()) db.remove_prefix(1);  // the leading '/'
  if (!db.empty() && (!all_of(db, is_digit) || db.size() > 5))
    fail(name, shown_url(url),
         "the database after the host must be a number (redis://host:6379/0)");
  check_with_component(name, url, health::detail::parse_redis_url);
}

/// BotFather's format: "<bot id>:<secret>". The value itself is never shown.
void check_telegram_token(std::string_view name, std::string_view token) {
  if (token.empty()) return;
  const std::size_t colon = token.find(':');
  const bool valid =
      colon != std::string_view::npos && colon <= 20 && all_of(token.substr(0, colon), is_digit) &&
      all_of(token.substr(colon + 1), [](char c) { return is_alnum(c) || c == '_' || c == '-'; });
  if (!valid)
    fail(name, std::string(kFiltered),
         "expected a bot token <bot id>:<secret> (digits, ':', then letters, digits, '_' or '-')");
}

/// Must fit an `Authorization: Bearer` header (RFC 6750 b64token). Never shown.
void check_auth_token(std::string_view name, std::string_view token) {
  if (token.empty()) return;
  std::size_t end = token.size();
  while (end > 0 && token[end - 1] == '=') --end;
  const bool valid =
      end > 0 && token.size() <= 4096 &&
      std::all_of(token.begin(), token.begin() + end, [](char c) {
        return is_alnum(c) || std::string_view("-._~+/").find(c) != std::string_view::npos;
      });
  if (!valid)
    fail(name, std::string(kFiltered),
         "expected a bearer token of letters, digits and - . _ ~ + / (optionally ending in '=')");
}

/// Sentry's rules for environment names (empty = no environment sent).
void check_sentry_environment(std::string_view name, std::string_view environment) {
  if (environment.empty()) return;
  if (environment.size() > 64 || environment == "None" || has_space_or_control(environment) ||
      environment.find('/') != std::string_view::npos)
    fail(name, quoted(environment),
         "a Sentry environment has at most 64 characters, no spaces, '/' or control characters, "
         "and is not \"None\"");
}

/// Sentry's rules for release names (empty = no release sent), from the Sentry client that
/// enforces them at init.
void check_sentry_release(std::string_view name, std::string_view release) {
  if (release.empty()) return;
  if (std::string problem = sentry::release_problem(release); !problem.empty())
    fail(name, quoted(release), problem);
}

/// [schema.]table, plain SQL identifiers: the migrations check puts it into a query and
/// validates it with the same function.
void check_migrations_table(std::string_view name, std::string_view table) {
  check_not_empty(name, table);
  try {
    health::detail::validate_table_name(table);
  } catch (const ConfigError&) {
    fail(name, quoted(table),
         "expected a table name or schema.table of plain identifiers ([A-Za-z_][A-Za-z0-9_]*, at "
         "most 63 characters each)");
  }
}

/// Where Sentry keeps unsent envelopes (and a crash writes its event): with a DSN set, a
/// directory this process can write, or one it can create (its nearest existing ancestor is
/// such a directory). Without a DSN it is never used, so only its form is checked.
void check_sentry_cache_dir(std::string_view name, const MonitoringConfig& config) {
  namespace fs = std::filesystem;
  const std::string& dir = config.sentry_cache_dir;
  check_not_empty(name, dir);
  check_no_control_chars(name, dir);
  if (config.sentry_dsn.empty()) return;
  constexpr std::string_view kWhy = " (Sentry keeps unsent events there)";
  fs::path path(dir);
  bool exists = true;  // false: `path` is the nearest existing ancestor of `dir`
  for (;;) {
    std::error_code error;
    const fs::file_status status = fs::status(path, error);
    // A missing directory is created when Sentry starts: look at what would hold it. (A
    // regular file among the ancestors, ENOTDIR, is "not found" too, and found on the way.)
    if (status.type() == fs::file_type::not_found) {
      fs::path parent = path.parent_path();
      if (parent.empty()) parent = ".";
      if (parent == path) return;
      path = std::move(parent);
      exists = false;
      continue;
    }
    const std::string shown_path = quoted(path.string());
    if (error)
      fail(name, quoted(dir),
           "cannot inspect " + shown_path + ": " + error.message() + std::string(kWhy));
    if (!fs::is_directory(status))
      fail(name, quoted(dir),
           (exists ? std::string("it is not a directory")
                   : shown_path + " is not a directory, so it cannot be created") +
               std::string(kWhy));
    if (::access(path.c_str(), W_OK | X_OK) != 0) {
      const std::string reason = std::generic_category().message(errno);
      fail(name, quoted(dir),
           (exists ? "the directory is not writable: " + reason
                   : "it cannot be created in " + shown_path + ": " + reason) +
               std::string(kWhy));
    }
    return;
  }
}

bool is_name_char(char c) noexcept {
  return is_alnum(c) || c == '_' || c == '-' || c == '.';
}

void check_payment_systems(std::string_view name,
                           const std::map<std::string, std::string>& systems) {
  for (const auto& [system, url] : systems) {
    if (system.size() > 64 || !all_of(system, is_name_char))
      fail(name, quoted(system),
           "a payment system name has 1..64 letters, digits, '_', '-' or '.' (it becomes a label "
           "value and the check name payment:<name>)");
    check_http_url(std::string(name) + "[" + system + "]", url, /*required=*/false);
  }
}

void check_module_name(std::string_view name, std::string_view module) {
  if (module.size() > 128 || !all_of(module, [](char c) { return is_name_char(c) || c == ':'; }))
    fail(name, quoted(module), "a module name has 1..128 letters, digits, '_', '-', '.' or ':'");
}

void check_log_levels(std::string_view name, const std::map<std::string, std::string>& levels) {
  for (const auto& [module, level] : levels) {
    check_module_name(name, module);
    check_level(std::string(name) + "[" + module + "]", level);
  }
}

// --- the table of settings ------------------------------------------------------------------

struct Rule {
  std::string_view env;    // environment variable
  std::string_view field;  // MonitoringConfig member
  void (*parse)(MonitoringConfig&, std::string_view env, std::string_view value);
  void (*check)(const MonitoringConfig&, std::string_view name);
};

constexpr std::string_view kPortExpected = "expected an integer port 0..65535";

const Rule kRules[] = {
    {"LOG_LEVEL", "log_level",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       check_level(env, v);
       c.log_level = *normalize_log_level(v);
     },
     [](const MonitoringConfig& c, std::string_view n) { check_level(n, c.log_level); }},
    {"LOG_DIR", "log_dir",
     [](MonitoringConfig& c, std::string_view, std::string_view v) { c.log_dir = v; },
     [](const MonitoringConfig& c, std::string_view n) {
       check_not_empty(n, c.log_dir);
       check_no_control_chars(n, c.log_dir);
     }},
    {"USE_JSON_LOGS", "use_json_logs",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.use_json_logs = parse_bool(env, v);
     },
     nullptr},
    {"SENTRY_DSN", "sentry_dsn",
     [](MonitoringConfig& c, std::string_view, std::string_view v) { c.sentry_dsn = v; },
     nullptr},  // setup reports a malformed DSN and runs on without Sentry (issue 5)
    {"SENTRY_ENVIRONMENT", "sentry_environment",
     [](MonitoringConfig& c, std::string_view, std::string_view v) { c.sentry_environment = v; },
     [](const MonitoringConfig& c, std::string_view n) {
       check_sentry_environment(n, c.sentry_environment);
     }},
    {"SENTRY_TRACES_SAMPLE_RATE", "sentry_traces_sample_rate",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.sentry_traces_sample_rate = parse_double(env, v, "expected a rate between 0 and 1");
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_rate(n, c.sentry_traces_sample_rate);
     }},
    {"MONITORING_HOST", "monitoring_host",
     [](MonitoringConfig& c, std::string_view, std::string_view v) { c.monitoring_host = v; },
     [](const MonitoringConfig& c, std::string_view n) { check_host(n, c.monitoring_host); }},
    {"MONITORING_PORT", "monitoring_port",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.monitoring_port = parse_integer<int>(env, v, kPortExpected);
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_range(n, c.monitoring_port, 0, 65535, "a port in");
     }},
    {"ENABLE_MONITORING_SERVER", "enable_monitoring_server",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.enable_monitoring_server = parse_bool(env, v);
     },
     nullptr},
    {"DATABASE_URL", "database_url",
     [](MonitoringConfig& c, std::string_view, std::string_view v) { c.database_url = v; },
     [](const MonitoringConfig& c, std::string_view n) { check_database_url(n, c.database_url); }},
    {"REDIS_URL", "redis_url",
     [](MonitoringConfig& c, std::string_view, std::string_view v) { c.redis_url = v; },
     [](const MonitoringConfig& c, std::string_view n) { check_redis_url(n, c.redis_url); }},
    {"TELEGRAM_TOKEN", "telegram_token",
     [](MonitoringConfig& c, std::string_view, std::string_view v) { c.telegram_token = v; },
     [](const MonitoringConfig& c, std::string_view n) {
       check_telegram_token(n, c.telegram_token);
     }},
    {"PANEL_URL", "panel_url",
     [](MonitoringConfig& c, std::string_view, std::string_view v) { c.panel_url = v; },
     [](const MonitoringConfig& c, std::string_view n) { check_http_url(n, c.panel_url, false); }},
    {"PAYMENT_SYSTEMS", "payment_systems",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.payment_systems.clear();
       // An empty entry is an error: it is most often a system whose entry a template left
       // out, and its health check would silently be missing.
       parse_pairs(env, v, "expected name=url,name=url", EmptyEntries::kReject,
                   [&](std::string_view system, std::string_view url) {
                     if (url.empty()) return;  // an empty URL: that system is not configured
                     if (!c.payment_systems.emplace(system, url).second)
                       fail(env, quoted(system), "the payment system is listed twice");
                   });
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_payment_systems(n, c.payment_systems);
     }},
    {"TELEGRAM_API_URL", "telegram_api_url",
     [](MonitoringConfig& c, std::string_view, std::string_view v) { c.telegram_api_url = v; },
     [](const MonitoringConfig& c, std::string_view n) {
       check_http_url(n, c.telegram_api_url, true);
     }},
    {"MIGRATIONS_TABLE", "migrations_table",
     [](MonitoringConfig& c, std::string_view, std::string_view v) { c.migrations_table = v; },
     [](const MonitoringConfig& c, std::string_view n) {
       check_migrations_table(n, c.migrations_table);
     }},
    {"MIGRATIONS_EXPECTED_VERSION", "migrations_expected_version",
     [](MonitoringConfig& c, std::string_view, std::string_view v) {
       c.migrations_expected_version = v;
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_no_control_chars(n, c.migrations_expected_version);
       if (c.migrations_expected_version.size() > 256)
         fail(n, quoted(c.migrations_expected_version), "a version has at most 256 characters");
     }},
    {"SENTRY_RELEASE", "sentry_release",
     [](MonitoringConfig& c, std::string_view, std::string_view v) { c.sentry_release = v; },
     [](const MonitoringConfig& c, std::string_view n) {
       check_sentry_release(n, c.sentry_release);
     }},
    {"SENTRY_CACHE_DIR", "sentry_cache_dir",
     [](MonitoringConfig& c, std::string_view, std::string_view v) { c.sentry_cache_dir = v; },
     [](const MonitoringConfig& c, std::string_view n) { check_sentry_cache_dir(n, c); }},
    {"SENTRY_SAMPLE_RATE", "sentry_sample_rate",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.sentry_sample_rate = parse_double(env, v, "expected a rate between 0 and 1");
     },
     [](const MonitoringConfig& c, std::string_view n) { check_rate(n, c.sentry_sample_rate); }},
    {"SENTRY_AUTO_SESSION_TRACKING", "sentry_auto_session_tracking",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.sentry_auto_session_tracking = parse_bool(env, v);
     },
     nullptr},
    {"LOG_LEVELS", "log_levels",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.log_levels.clear();
       parse_pairs(env, v, "expected module=LEVEL,module=LEVEL", EmptyEntries::kSkip,
                   [&](std::string_view module, std::string_view level) {
                     // The module goes into the name of the entry's messages: check it first,
                     // so a control character in it never reaches a message unescaped.
                     check_module_name(env, module);
                     const std::string entry_name =
                         std::string(env) + "[" + std::string(module) + "]";
                     check_level(entry_name, level);
                     if (!c.log_levels.emplace(module, *normalize_log_level(level)).second)
                       fail(env, quoted(module), "the module is listed twice");
                   });
     },
     [](const MonitoringConfig& c, std::string_view n) { check_log_levels(n, c.log_levels); }},
    {"LOG_MAX_BYTES", "log_max_bytes",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.log_max_bytes = parse_byte_size(env, v);
     },
     nullptr},
    {"LOG_BACKUP_COUNT", "log_backup_count",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.log_backup_count = parse_integer<int>(env, v, "expected an integer 0..10000");
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_range(n, c.log_backup_count, 0, 10000, "a number of files in");
     }},
    {"LOG_BACKTRACE", "log_backtrace",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.log_backtrace = parse_integer<int>(env, v, "expected an integer 0..100000");
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_range(n, c.log_backtrace, 0, static_cast<int>(logging::kMaxBacktrace),
                   "a number of records in");
     }},
    {"LOG_CONSOLE", "log_console",
     [](MonitoringConfig& c, std::string_view, std::string_view v) { c.log_console = v; },
     [](const MonitoringConfig& c, std::string_view n) {
       if (c.log_console != "stderr" && c.log_console != "stdout" && c.log_console != "none")
         fail(n, quoted(c.log_console), "expected stderr, stdout or none");
     }},
    {"MONITORING_THROW_TRACES", "throw_traces",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.throw_traces = parse_bool(env, v);
     },
     nullptr},
    {"MONITORING_AUTH_TOKEN", "monitoring_auth_token",
     [](MonitoringConfig& c, std::string_view, std::string_view v) { c.monitoring_auth_token = v; },
     [](const MonitoringConfig& c, std::string_view n) {
       check_auth_token(n, c.monitoring_auth_token);
     }},
    {"MONITORING_LOGGERS_WRITABLE", "loggers_writable",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.loggers_writable = parse_bool(env, v);
     },
     nullptr},
    {"MONITORING_SERVER_THREADS", "server_threads",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.server_threads = parse_integer<int>(env, v, "expected an integer 1..64");
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_range(n, c.server_threads, 1, 64, "threads in");
     }},
    {"MONITORING_MAX_CONNECTIONS", "max_connections",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.max_connections = parse_integer<std::size_t>(env, v, "expected an integer 1..1000000");
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_range<std::size_t>(n, c.max_connections, 1, 1'000'000, "connections in");
     }},
    {"MONITORING_MAX_CONNECTIONS_PER_CLIENT", "max_connections_per_client",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.max_connections_per_client =
           parse_integer<std::size_t>(env, v, "expected an integer 0..1000000");
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_range<std::size_t>(n, c.max_connections_per_client, 0, 1'000'000, "connections in");
     }},
    {"MONITORING_MAX_HEADER_BYTES", "max_header_bytes",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.max_header_bytes = parse_integer<std::size_t>(env, v, "expected an integer 1024..1048576");
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_range<std::size_t>(n, c.max_header_bytes, 1024, 1u << 20, "bytes in");
     }},
    {"MONITORING_READ_TIMEOUT_MS", "read_timeout",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.read_timeout =
           std::chrono::milliseconds(parse_integer<std::int64_t>(env, v, "expected milliseconds"));
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_duration(n, c.read_timeout, 1, 3'600'000);
     }},
    {"MONITORING_KEEP_ALIVE_TIMEOUT_MS", "keep_alive_timeout",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.keep_alive_timeout =
           std::chrono::milliseconds(parse_integer<std::int64_t>(env, v, "expected milliseconds"));
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_duration(n, c.keep_alive_timeout, 1, 3'600'000);
     }},
    {"MONITORING_WRITE_TIMEOUT_MS", "write_timeout",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.write_timeout =
           std::chrono::milliseconds(parse_integer<std::int64_t>(env, v, "expected milliseconds"));
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_duration(n, c.write_timeout, 1, 3'600'000);
     }},
    {"MONITORING_SHUTDOWN_GRACE_MS", "shutdown_grace",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.shutdown_grace =
           std::chrono::milliseconds(parse_integer<std::int64_t>(env, v, "expected milliseconds"));
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_duration(n, c.shutdown_grace, 0, 600'000);
     }},
    {"MONITORING_DRAIN_MS", "drain_period",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.drain_period =
           std::chrono::milliseconds(parse_integer<std::int64_t>(env, v, "expected milliseconds"));
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_duration(n, c.drain_period, 0, 600'000);
     }},
    {"MONITORING_STATUS_PAGE", "status_page",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.status_page = parse_bool(env, v);
     },
     nullptr},
    {"MONITORING_STATUS_SAMPLE_MS", "status_sample_interval",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.status_sample_interval =
           std::chrono::milliseconds(parse_integer<std::int64_t>(env, v, "expected milliseconds"));
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_duration(n, c.status_sample_interval, 100, 300'000);
     }},
    {"METRICS_SERIES_LIMIT", "metrics_series_limit",
     [](MonitoringConfig& c, std::string_view env, std::string_view v) {
       c.metrics_series_limit =
           parse_integer<std::size_t>(env, v, "expected an integer 1..10000000");
     },
     [](const MonitoringConfig& c, std::string_view n) {
       check_range<std::size_t>(n, c.metrics_series_limit, 1, 10'000'000, "series in");
     }},
};

}  // namespace

std::optional<std::string> normalize_log_level(std::string_view level) {
  std::string upper(level);
  std::transform(upper.begin(), upper.end(), upper.begin(), to_upper);
  if (upper == "WARN") upper = "WARNING";
  for (std::string_view known : {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
    if (upper == known) return upper;
  return std::nullopt;
}

MonitoringConfig MonitoringConfig::from_env() {
  return from_env([](std::string_view name) -> std::optional<std::string> {
    // getenv is safe here as long as nobody calls setenv concurrently, which is the
    // process-wide rule for the environment anyway.
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

MonitoringConfig MonitoringConfig::from_env(const EnvSource& source) {
  if (!source) throw ConfigError("MonitoringConfig::from_env: the environment source is empty");
  MonitoringConfig config;
  for (const Rule& rule : kRules) {
    const std::optional<std::string> raw = source(rule.env);
    if (!raw) continue;
    const std::string_view value = trim(*raw);
    if (value.empty()) continue;  // VAR= counts as unset, as docker-compose and systemd write it
    rule.parse(config, rule.env, value);
    if (rule.check) rule.check(config, rule.env);
  }
  return config;
}

void MonitoringConfig::validate() const {
  for (const Rule& rule : kRules)
    if (rule.check) rule.check(*this, rule.field);
}

}  // namespace monitoring
