#include "health/scrub.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>

#include "monitoring/scrub.hpp"
#include "net/http_client.hpp"

namespace monitoring::health::detail {

namespace {

constexpr std::string_view kFiltered = Scrubber::kFiltered;

bool is_alnum(char c) noexcept {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}
bool is_scheme_char(char c) noexcept {
  return is_alnum(c) || c == '+' || c == '-' || c == '.';
}

bool ends_url(char c) noexcept {
  return std::isspace(static_cast<unsigned char>(c)) != 0 || c == '"' || c == '\'' || c == '<' ||
         c == '>' || c == '`' || c == ',' || c == ';' || c == ')';
}

void replace_all(std::string& text, std::string_view secret) {
  if (secret.size() < 3) return;
  for (std::size_t at = text.find(secret); at != std::string::npos;
       at = text.find(secret, at + kFiltered.size()))
    text.replace(at, secret.size(), kFiltered);
}

// Every "scheme://..." run goes through redact_url.
std::string redact_urls(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  for (std::size_t sep = text.find("://"); sep != std::string::npos;
       sep = text.find("://", sep + 3)) {
    std::size_t start = sep;
    while (start > copied && is_scheme_char(text[start - 1])) --start;
    if (start == sep) continue;  // no scheme before "://"
    std::size_t end = sep + 3;
    while (end < text.size() && !ends_url(text[end])) ++end;
    out.append(text, copied, start - copied);
    out += common::redact_url(std::string_view(text).substr(start, end - start));
    copied = end;
    sep = end - 3 < sep ? sep : end - 3;
  }
  out.append(text, copied, std::string::npos);
  return out;
}

std::string scrub_patterns(std::string out) {
  // User-info of any URL-like text, malformed ones included ("https//u:p@h", "pg:/u:p@h").
  if (std::string redacted; Scrubber::redact_url_userinfo(out, redacted)) out = std::move(redacted);
  if (out.find("://") != std::string::npos) out = redact_urls(out);
  // Everything else (bot tokens, Bearer, password=..., card numbers) is the shared scrubber's.
  std::string scrubbed;
  if (Scrubber::shared()->scrub(out, scrubbed)) return scrubbed;
  return out;
}

}  // namespace

std::string scrub_message(std::string_view text, std::initializer_list<std::string_view> secrets) {
  std::string out(text);
  for (std::string_view secret : secrets) replace_all(out, secret);
  return scrub_patterns(std::move(out));
}

std::string scrub_message(std::string_view text, std::span<const std::string> secrets) {
  std::string out(text);
  // Longest first, so a piece never splits a longer secret it is part of.
  std::vector<std::string_view> ordered(secrets.begin(), secrets.end());
  std::sort(ordered.begin(), ordered.end(),
            [](std::string_view a, std::string_view b) { return a.size() > b.size(); });
  for (std::string_view secret : ordered) replace_all(out, secret);
  return scrub_patterns(std::move(out));
}

std::vector<std::string> userinfo_password_pieces(std::string_view value) {
  std::vector<std::string> pieces;
  const std::size_t separator = value.find("://");
  const std::size_t start = separator == std::string_view::npos ? 0 : separator + 3;
  const std::size_t at = value.rfind('@');
  if (at == std::string_view::npos || at < start) return pieces;
  const std::size_t colon = value.find(':', start);
  if (colon == std::string_view::npos || colon >= at) return pieces;
  const std::string_view password = value.substr(colon + 1, at - colon - 1);
  pieces.emplace_back(password);
  std::size_t piece_start = 0;
  for (std::size_t i = 0; i <= password.size(); ++i) {
    if (i < password.size() &&
        std::string_view("/?#:@").find(password[i]) == std::string_view::npos)
      continue;
    if (i > piece_start && i - piece_start < password.size())
      pieces.emplace_back(password.substr(piece_start, i - piece_start));
    piece_start = i + 1;
  }
  return pieces;
}

}  // namespace monitoring::health::detail
