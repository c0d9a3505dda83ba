// DSN parsing and the DSN's derived forms (envelope URL, redacted text). Errors name what is
// wrong without ever showing the key.

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>

#include "monitoring/scrub.hpp"
#include "monitoring/sentry/client.hpp"

namespace monitoring::sentry {
namespace {

constexpr std::string_view kFiltered = Scrubber::kFiltered;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

/// The DSN as it may be shown: the key (everything up to the last '@') replaced. Without an
/// '@' the whole value could be a key, so nothing of it is shown.
std::string shown(std::string_view dsn) {
  const std::size_t at = dsn.rfind('@');
  if (at == std::string_view::npos) return std::string(kFiltered);
  const std::size_t scheme_end = dsn.find("://");
  std::string out;
  if (scheme_end != std::string_view::npos && scheme_end < at) out = dsn.substr(0, scheme_end + 3);
  out += kFiltered;
  out += dsn.substr(at);
  return out;
}

constexpr std::string_view kExpected =
    " (expected https://<public key>@<host>[:port][/path]/<project id>)";

[[noreturn]] void fail(std::string_view dsn, std::string_view why) {
  throw DsnError(shown(dsn), std::string(why));
}

bool is_key_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' ||
         c == '.' || c == '~';
}

bool is_host_char(char c) {
  return is_key_char(c);  // letters, digits, '-', '.', and '_' / '~' seen in internal names
}

bool is_ipv6_char(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.' ||
         c == '%';
}

std::string describe_char(char c) {
  if (c == ' ') return "a space";
  if (c == '\t') return "a tab";
  if (c == '\n' || c == '\r') return "a line break";
  char text[32];
  std::snprintf(text, sizeof text, "a control character (0x%02x)",
                static_cast<unsigned>(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

DsnError::DsnError(std::string redacted_dsn, std::string problem)
    : SentryError("invalid Sentry DSN '" + redacted_dsn + "': " + problem + std::string(kExpected)),
      redacted_dsn_(std::move(redacted_dsn)),
      problem_(std::move(problem)) {}

Dsn Dsn::parse(std::string_view dsn) {
  if (dsn.empty()) fail(dsn, "the DSN is empty");
  for (std::size_t i = 0; i < dsn.size(); ++i) {
    const char c = dsn[i];
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      std::string why = "the DSN contains " + describe_char(c) + " at position " +
                        std::to_string(i + 1) + " of " + std::to_string(dsn.size());
      if (i == 0 || i + 1 == dsn.size()) why += " (whitespace around the value?)";
      fail(dsn, why);
    }
  }
  Dsn out;
  const std::size_t scheme_end = dsn.find("://");
  if (scheme_end == std::string_view::npos) fail(dsn, "the DSN has no scheme ('https://')");
  for (char c : dsn.substr(0, scheme_end)) out.scheme.push_back(lower(c));
  if (out.scheme != "http" && out.scheme != "https") {
    // Named only when it cannot hold a piece of the key.
    const bool plain = !out.scheme.empty() && out.scheme.size() <= 16 &&
                       std::all_of(out.scheme.begin(), out.scheme.end(),
                                   [](char c) { return c >= 'a' && c <= 'z'; });
    fail(dsn, plain ? "the scheme '" + out.scheme + "' is not http or https"
                    : std::string("the scheme must be http or https"));
  }
  std::string_view rest = dsn.substr(scheme_end + 3);
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  const std::size_t at = authority.rfind('@');
  if (at == std::string_view::npos) fail(dsn, "the DSN has no public key before '@'");
  std::string_view userinfo = authority.substr(0, at);
  out.public_key = std::string(userinfo.substr(0, userinfo.find(':')));
  if (out.public_key.empty()) fail(dsn, "the DSN has no public key before '@'");
  if (!std::all_of(out.public_key.begin(), out.public_key.end(), is_key_char))
    fail(dsn, "the public key has a character other than letters, digits, '-', '_', '.', '~'");
  std::string_view hostport = authority.substr(at + 1);
  std::string_view port_text;
  if (!hostport.empty() && hostport.front() == '[') {
    const std::size_t close = hostport.find(']');
    if (close == std::string_view::npos) fail(dsn, "unterminated IPv6 address");
    out.host = std::string(hostport.substr(0, close + 1));
    std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') fail(dsn, "unexpected text after the IPv6 address");
      port_text = after.substr(1);
      if (port_text.empty()) fail(dsn, "the port is empty");
    }
  } else {
    const std::size_t colon = hostport.rfind(':');
    out.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = hostport.substr(colon + 1);
      if (port_text.empty()) fail(dsn, "the port is empty");
    }
  }
  if (out.host.empty() || out.host == "[]") fail(dsn, "the DSN has no host");
  const bool ipv6 = out.host.front() == '[';
  const std::string_view host_name =
      ipv6 ? std::string_view(out.host).substr(1, out.host.size() - 2) : std::string_view(out.host);
  if (!std::all_of(host_name.begin(), host_name.end(), ipv6 ? is_ipv6_char : is_host_char))
    fail(dsn, "the host '" + out.host + "' has a character not allowed in a host name");
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [end, error] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (error != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535)
      fail(dsn, "the port '" + std::string(port_text) + "' is not a number 1..65535");
    out.port = static_cast<std::uint16_t>(value);
  }
  if (path.find_first_of("?#") != std::string_view::npos)
    fail(dsn, "the DSN must not have a query or fragment");
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  const std::size_t last = path.rfind('/');
  if (path.empty() || last == std::string_view::npos)
    fail(dsn, "the DSN has no project id after the host");
  std::string_view project = path.substr(last + 1);
  if (project.empty()) fail(dsn, "the DSN has no project id after the host");
  for (char c : project)
    if (!is_digit(c)) fail(dsn, "the project id '" + std::string(project) + "' is not a number");
  out.project_id = std::string(project);
  out.path_prefix = std::string(path.substr(0, last));
  return out;
}

std::string Dsn::envelope_url() const {
  std::string url = scheme + "://" + host;
  if (port != 0) {
    url.push_back(':');
    url.append(std::to_string(port));
  }
  url += path_prefix;
  url += "/api/" + project_id + "/envelope/";
  return url;
}

std::string Dsn::redacted() const {
  std::string url = scheme + "://" + std::string(kFiltered) + "@" + host;
  if (port != 0) {
    url.push_back(':');
    url.append(std::to_string(port));
  }
  return url + path_prefix + "/" + project_id;
}

}  // namespace monitoring::sentry
