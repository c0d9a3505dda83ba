#include "health/scrub.hpp"

#include <array>
#include <cctype>
#include <cstddef>

#include "common/http_client.hpp"

namespace monitoring::health::detail {

namespace {

constexpr std::string_view kFiltered = "[Filtered]";

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) noexcept {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}
bool is_scheme_char(char c) noexcept {
  return is_alnum(c) || c == '+' || c == '-' || c == '.';
}
bool is_token_char(char c) noexcept {
  return is_alnum(c) || c == '_' || c == '-';
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

// Telegram bot tokens: <6..12 digits>:<30+ characters of [A-Za-z0-9_-]>.
std::string redact_bot_tokens(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (is_digit(text[i]) && (i == 0 || !is_token_char(text[i - 1]))) {
      std::size_t j = i;
      while (j < text.size() && is_digit(text[j])) ++j;
      const std::size_t digits = j - i;
      if (digits >= 6 && digits <= 12 && j < text.size() && text[j] == ':') {
        std::size_t k = j + 1;
        while (k < text.size() && is_token_char(text[k])) ++k;
        if (k - j - 1 >= 30) {
          out += kFiltered;
          i = k;
          continue;
        }
      }
      out.append(text, i, j - i);
      i = j;
      continue;
    }
    out.push_back(text[i]);
    ++i;
  }
  return out;
}

bool iequals_at(const std::string& text, std::size_t at, std::string_view word) {
  if (at + word.size() > text.size()) return false;
  for (std::size_t i = 0; i < word.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[at + i])) != word[i]) return false;
  return true;
}

// "Bearer <token>" and key=value pairs whose key names a secret.
std::string redact_pairs(const std::string& text) {
  static constexpr std::array<std::string_view, 6> kKeys = {
      "password=", "passwd=", "token=", "secret=", "api_key=", "apikey="};
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const bool word_start = i == 0 || !is_token_char(text[i - 1]);
    if (word_start && iequals_at(text, i, "bearer ")) {
      std::size_t j = i + 7;
      while (j < text.size() && text[j] == ' ') ++j;
      std::size_t k = j;
      while (k < text.size() && !std::isspace(static_cast<unsigned char>(text[k])) &&
             text[k] != '"' && text[k] != '\'')
        ++k;
      if (k > j && text.compare(j, kFiltered.size(), kFiltered) != 0) {
        out.append(text, i, j - i);
        out += kFiltered;
        i = k;
        continue;
      }
    }
    bool matched = false;
    if (word_start) {
      for (std::string_view key : kKeys) {
        if (!iequals_at(text, i, key)) continue;
        std::size_t j = i + key.size();
        std::size_t k = j;
        if (k < text.size() && (text[k] == '\'' || text[k] == '"')) {
          const char quote = text[k];
          k = text.find(quote, k + 1);
          k = k == std::string::npos ? text.size() : k + 1;
        } else {
          while (k < text.size() && !std::isspace(static_cast<unsigned char>(text[k])) &&
                 text[k] != '&' && text[k] != ',' && text[k] != ';')
            ++k;
        }
        out.append(text, i, j - i);
        if (k > j) out += kFiltered;
        i = k;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    out.push_back(text[i]);
    ++i;
  }
  return out;
}

}  // namespace

std::string scrub_message(std::string_view text, std::initializer_list<std::string_view> secrets) {
  std::string out(text);
  for (std::string_view secret : secrets) replace_all(out, secret);
  if (out.find("://") != std::string::npos) out = redact_urls(out);
  out = redact_bot_tokens(out);
  out = redact_pairs(out);
  return out;
}

}  // namespace monitoring::health::detail
