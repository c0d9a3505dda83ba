// Scrubber::redact_url_userinfo and common::redact_url over text with a planted password.
//
// Input: up to five NUL-separated parts, prefix, scheme, user, tail and rest; the harness
// redacts prefix + scheme + "://" + user + ":" + marker + tail + "@" + rest. To keep the marker
// in a user-info by the scrubber's documented rule, the scheme is reduced to a scheme-like
// word (a letter, then letters, digits, '+', '-', '.'; "x" when nothing is left), a prefix
// that would run into the scheme gets a space appended, and the user and tail lose the bytes
// that end a URL in text (whitespace, control characters, quotes, '<', '>').
// Properties, for both functions:
//   - the output never holds the marker;
//   - redacting the output again changes nothing (idempotent);
// and for redact_url_userinfo(text, out): false leaves `out` untouched, and exactly when the
// text has nothing to remove (the one-argument form returns the text itself).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "monitoring/scrub.hpp"
#include "net/http_client.hpp"

namespace {

constexpr std::string_view kMarker = "Zq9Secret";

bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_scheme_char(char c) {
  return is_letter(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}
bool ends_url(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte <= 0x20 || byte == 0x7f ||
         std::string_view("\"'`<>").find(c) != std::string_view::npos;
}

std::string without_url_ends(std::string_view text) {
  std::string out;
  for (char c : text)
    if (!ends_url(c)) out += c;
  return out;
}

void check_redactor(std::string_view name, const std::string& text,
                    std::string (*redact)(std::string_view)) {
  const std::string once = redact(text);
  fuzz::check(once.find(kMarker) == std::string::npos,
              std::string(name) + ": the output holds the planted password", text + " -> " + once);
  const std::string twice = redact(once);
  fuzz::check(twice == once, std::string(name) + ": not idempotent", once + " -> " + twice);
}

std::string userinfo_redact(std::string_view text) {
  return monitoring::Scrubber::redact_url_userinfo(text);
}
std::string url_redact(std::string_view text) {
  return monitoring::common::redact_url(text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.find(kMarker.substr(0, 4)) != std::string_view::npos) return 0;  // planted only

  // The raw input too: the two-argument form's contract, and idempotence on any text.
  {
    std::string out = "untouched";
    const bool changed = monitoring::Scrubber::redact_url_userinfo(input, out);
    if (!changed) fuzz::check(out == "untouched", "false, but `out` was written", out);
    const std::string once = userinfo_redact(input);
    fuzz::check(changed == (once != input), "true, but nothing was removed", once);
    fuzz::check(userinfo_redact(once) == once, "redact_url_userinfo is not idempotent", once);
    const std::string url_once = url_redact(input);
    fuzz::check(url_redact(url_once) == url_once, "redact_url is not idempotent", url_once);
  }

  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (parts.size() < 4) {
    const std::size_t nul = input.find('\0', start);
    if (nul == std::string_view::npos) break;
    parts.push_back(input.substr(start, nul - start));
    start = nul + 1;
  }
  parts.push_back(input.substr(start));
  while (parts.size() < 5) parts.push_back(std::string_view());

  std::string prefix(parts[0]);
  std::string scheme;
  for (char c : parts[1])
    if (is_scheme_char(c) && (!scheme.empty() || is_letter(c))) scheme += c;
  if (scheme.empty()) scheme = "x";
  if (!prefix.empty() && (is_scheme_char(prefix.back()) || prefix.back() == '/')) prefix += ' ';

  const std::string text = prefix + scheme + "://" + without_url_ends(parts[2]) + ":" +
                           std::string(kMarker) + without_url_ends(parts[3]) + "@" +
                           std::string(parts[4]);
  if (fuzz::count(text, kMarker) != 1) return 0;  // the parts spelled it after filtering
  check_redactor("Scrubber::redact_url_userinfo", text, userinfo_redact);
  check_redactor("common::redact_url", text, url_redact);
  return 0;
}
