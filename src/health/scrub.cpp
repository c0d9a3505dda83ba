#include "health/scrub.hpp"

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

}  // namespace

std::string scrub_message(std::string_view text, std::initializer_list<std::string_view> secrets) {
  std::string out(text);
  for (std::string_view secret : secrets) replace_all(out, secret);
  // User-info of any URL-like text, malformed ones included ("https//u:p@h", "pg:/u:p@h").
  if (std::string redacted; Scrubber::redact_url_userinfo(out, redacted)) out = std::move(redacted);
  if (out.find("://") != std::string::npos) out = redact_urls(out);
  // Everything else (bot tokens, Bearer, password=..., card numbers) is the shared scrubber's.
  std::string scrubbed;
  if (Scrubber::shared()->scrub(out, scrubbed)) return scrubbed;
  return out;
}

}  // namespace monitoring::health::detail
