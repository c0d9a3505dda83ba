#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <mutex>

#include "core/ascii.hpp"
#include "monitoring/scrub.hpp"

namespace monitoring {
namespace {

// ---- key rules ---------------------------------------------------------------------------

enum class Anchor : std::uint8_t {
  kAnywhere,    // substring of the normalized key
  kWholeWord,   // must start and end at word boundaries: "auth" matches "x_auth" not "author"
  kWordPrefix,  // must start at a word boundary: "session" matches "sessionid" not "possession"
};

struct KeyTerm {
  std::string_view text;  // lowercase, words joined by '_'
  Anchor anchor;
};

// Distinctive terms match anywhere; short ones that begin ordinary English words only as
// words (the near-misses "author", "discard", "passenger", "possession" must stay visible).
constexpr KeyTerm kKeyTerms[] = {
    {"password", Anchor::kAnywhere},    {"passwd", Anchor::kAnywhere},
    {"secret", Anchor::kAnywhere},      {"token", Anchor::kAnywhere},
    {"api_key", Anchor::kAnywhere},     {"apikey", Anchor::kAnywhere},
    {"access_key", Anchor::kAnywhere},  {"authorization", Anchor::kAnywhere},
    {"cookie", Anchor::kAnywhere},      {"credential", Anchor::kAnywhere},
    {"private_key", Anchor::kAnywhere}, {"privatekey", Anchor::kAnywhere},
    {"cvv", Anchor::kAnywhere},         {"cvc", Anchor::kAnywhere},
    {"cardnumber", Anchor::kAnywhere},  {"creditcard", Anchor::kAnywhere},
    {"session", Anchor::kWordPrefix},   {"auth", Anchor::kWholeWord},
    {"card", Anchor::kWholeWord},       {"dsn", Anchor::kWholeWord},
    {"pass", Anchor::kWholeWord},
};

bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_lower(c) || is_upper(c) || is_digit(c);
}
using core::ascii_lower;
using core::iequals;

// Lowercases `key`, maps separators to '_' and inserts '_' at camelCase boundaries
// ("XAuthToken" -> "x_auth_token", "apiKey" -> "api_key", "HTTPServer" -> "http_server").
// Returns the length written (out must hold 2 * key.size() bytes).
std::size_t normalize_key(std::string_view key, char* out) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    if (!is_alnum(c)) {
      out[n++] = '_';
      continue;
    }
    if (is_upper(c) && i > 0) {
      const char previous = key[i - 1];
      const bool next_lower = i + 1 < key.size() && is_lower(key[i + 1]);
      if (is_lower(previous) || is_digit(previous) || (is_upper(previous) && next_lower)) {
        if (n > 0 && out[n - 1] != '_') out[n++] = '_';
      }
    }
    out[n++] = ascii_lower(c);
  }
  return n;
}

bool term_matches(std::string_view normalized, const KeyTerm& term) {
  std::size_t from = 0;
  while (true) {
    const std::size_t at = normalized.find(term.text, from);
    if (at == std::string_view::npos) return false;
    const bool starts_word = at == 0 || normalized[at - 1] == '_';
    const std::size_t end = at + term.text.size();
    const bool ends_word = end == normalized.size() || normalized[end] == '_';
    switch (term.anchor) {
      case Anchor::kAnywhere:
        return true;
      case Anchor::kWordPrefix:
        if (starts_word) return true;
        break;
      case Anchor::kWholeWord:
        if (starts_word && ends_word) return true;
        break;
    }
    from = at + 1;
  }
}

// ---- value rules -------------------------------------------------------------------------

enum CharClass : std::uint8_t { kPlain, kDigit, kLetterB, kLetterE, kColon, kEquals };

constexpr auto kClasses = [] {
  std::array<std::uint8_t, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = kDigit;
  table['b'] = table['B'] = kLetterB;
  table['e'] = kLetterE;
  table[':'] = kColon;
  table['='] = kEquals;
  return table;
}();

bool is_token_char(char c) {  // Telegram token / base64url alphabet
  return is_alnum(c) || c == '_' || c == '-';
}
bool is_b64token_char(char c) {  // RFC 6750 b64token
  return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' ||
         c == '=';
}
bool is_key_char(char c) {
  return is_alnum(c) || c == '_' || c == '.' || c == '-';
}
bool is_space(char c) {
  return c == ' ' || c == '\t';
}
bool ends_value(char c) {
  switch (c) {
    case ' ':
    case '\t':
    case '\r':
    case '\n':
    case '&':
    case ',':
    case ';':
    case '"':
    case '\'':
    case ')':
    case ']':
    case '}':
    case '>':
    case '<':
      return true;
    default:
      return false;
  }
}
bool ends_url_userinfo(char c) {
  return c == '/' || c == '?' || c == '#' || c == '"' || c == '\'' || c == '<' || c == '>' ||
         static_cast<unsigned char>(c) <= ' ';
}

bool is_auth_scheme(std::string_view word) {
  for (const std::string_view scheme :
       {"bearer", "basic", "digest", "token", "bot", "negotiate", "ntlm", "apikey"})
    if (iequals(word, scheme)) return true;
  return false;
}

// Builds the scrubbed copy lazily: nothing is allocated until the first replacement.
class Rewriter {
 public:
  explicit Rewriter(std::string_view text) : text_(text) {}

  void replace(std::size_t begin, std::size_t end) {
    if (begin < copied_ || begin >= end) return;
    if (text_.substr(begin, end - begin) == Scrubber::kFiltered) return;  // already scrubbed
    if (!changed_) {
      result_.reserve(text_.size() + Scrubber::kFiltered.size());
      changed_ = true;
    }
    result_.append(text_.data() + copied_, begin - copied_);
    result_.append(Scrubber::kFiltered);
    copied_ = end;
  }

  bool finish(std::string& out) {
    if (!changed_) return false;
    result_.append(text_.data() + copied_, text_.size() - copied_);
    out = std::move(result_);
    return true;
  }

 private:
  std::string_view text_;
  std::string result_;
  std::size_t copied_ = 0;
  bool changed_ = false;
};

// Finds the longest Luhn-valid card number starting at `begin` (a digit not preceded by a
// letter or digit): 13-19 digits in groups separated by single spaces or dashes, ending at a
// group boundary not followed by a letter or digit. Returns its end, or 0.
std::size_t match_card(std::string_view s, std::size_t begin) {
  char digits[19];
  std::size_t count = 0;
  std::size_t group_end[19];     // text position after each group
  std::size_t group_digits[19];  // digits up to and including that group
  std::size_t groups = 0;
  std::size_t j = begin;
  while (true) {
    bool too_long = false;
    while (j < s.size() && is_digit(s[j])) {
      if (count == 19) {
        too_long = true;  // the cut group cannot end a card number; earlier groups still may
        break;
      }
      digits[count++] = s[j++];
    }
    if (too_long) break;
    group_end[groups] = j;
    group_digits[groups] = count;
    ++groups;
    if (groups < 19 && j + 1 < s.size() && (s[j] == ' ' || s[j] == '-') && is_digit(s[j + 1])) {
      ++j;
      continue;
    }
    break;
  }
  for (std::size_t g = groups; g-- > 0;) {
    const std::size_t end = group_end[g];
    // "4111111111111111abc" is an identifier, not a card number.
    if (end < s.size() && is_alnum(s[end])) continue;
    if (group_digits[g] >= 13 && luhn_valid(std::string_view(digits, group_digits[g]))) return end;
  }
  return 0;
}

}  // namespace

bool luhn_valid(std::string_view digits) noexcept {
  if (digits.empty()) return false;
  unsigned sum = 0;
  bool double_it = false;
  for (std::size_t i = digits.size(); i-- > 0;) {
    const char c = digits[i];
    if (!is_digit(c)) return false;
    unsigned d = static_cast<unsigned>(c - '0');
    if (double_it) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double_it = !double_it;
  }
  return sum % 10 == 0;
}

Scrubber::Scrubber() : Scrubber(ScrubOptions{}) {}

Scrubber::Scrubber(ScrubOptions options) : options_(std::move(options)) {
  for (const std::string& key : options_.extra_keys) {
    std::string normalized(2 * key.size(), '\0');
    normalized.resize(normalize_key(key, normalized.data()));
    if (!normalized.empty()) lowered_extra_keys_.push_back(std::move(normalized));
  }
  for (const std::string& key : options_.safe_keys)
    lowered_safe_keys_.push_back(core::to_lower(key));
  for (const std::string& prefix : options_.value_prefixes)
    if (!prefix.empty()) prefix_first_byte_[static_cast<unsigned char>(prefix[0])] = true;
  for (std::size_t byte = 0; byte < 256; ++byte)
    inert_byte_[byte] = kClasses[byte] == kPlain && !prefix_first_byte_[byte];
}

bool Scrubber::is_sensitive_key(std::string_view key) const noexcept {
  if (key.empty()) return false;
  if (!lowered_safe_keys_.empty()) {
    for (const std::string& safe : lowered_safe_keys_)
      if (iequals(key, safe)) return false;
  }
  return key_matches(key);
}

bool Scrubber::key_matches(std::string_view key) const noexcept {
  // Keys are short; a long one is judged by its first 256 bytes (a sensitive term at its
  // very end would be missed, a fair price for never allocating here).
  char buffer[512];
  const std::size_t length = normalize_key(key.substr(0, 256), buffer);
  const std::string_view normalized(buffer, length);
  for (const KeyTerm& term : kKeyTerms)
    if (term_matches(normalized, term)) return true;
  for (const std::string& extra : lowered_extra_keys_)
    if (normalized.find(extra) != std::string_view::npos) return true;
  return false;
}

bool Scrubber::is_card_number(std::uint64_t value) const noexcept {
  if (!options_.filter_card_numbers || value < 1'000'000'000'000ull) return false;  // < 13 digits
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  return luhn_valid(std::string_view(digits, static_cast<std::size_t>(end - digits)));
}

std::string Scrubber::scrubbed(std::string_view text) const {
  std::string out;
  if (!scrub(text, out)) out.assign(text);
  return out;
}

bool Scrubber::scrub(std::string_view s, std::string& out) const {
  Rewriter rewriter(s);
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    // Most text is inert letters and spaces: skipping them in a tight loop cut a third of
    // the scrubber's instructions on typical log messages.
    while (inert_byte_[static_cast<unsigned char>(s[i])])
      if (++i == n) return rewriter.finish(out);
    const char c = s[i];
    const auto byte = static_cast<unsigned char>(c);

    if (prefix_first_byte_[byte] && (i == 0 || !is_b64token_char(s[i - 1]))) {
      bool matched = false;
      for (const std::string& prefix : options_.value_prefixes) {
        if (s.substr(i, prefix.size()) != prefix) continue;
        std::size_t end = i + prefix.size();
        while (end < n && !ends_value(s[end])) ++end;
        rewriter.replace(i, end);
        i = end;
        matched = true;
        break;
      }
      if (matched) continue;
    }

    switch (kClasses[byte]) {
      case kPlain:
        ++i;
        continue;

      case kDigit: {
        std::size_t run_end = i;
        while (run_end < n && is_digit(s[run_end])) ++run_end;
        const std::size_t run = run_end - i;
        // Telegram bot token: no boundary before it (it follows "bot" in API URLs).
        if (options_.filter_telegram_tokens && run >= 6 && run <= 10 && run_end < n &&
            s[run_end] == ':') {
          std::size_t end = run_end + 1;
          while (end < n && is_token_char(s[end])) ++end;
          if (end - run_end - 1 >= 35) {
            rewriter.replace(i, end);
            i = end;
            continue;
          }
        }
        if (options_.filter_card_numbers && (i == 0 || !is_alnum(s[i - 1]))) {
          if (const std::size_t end = match_card(s, i)) {
            rewriter.replace(i, end);
            i = end;
            continue;
          }
        }
        i = run_end;
        continue;
      }

      case kLetterB: {
        if (options_.filter_bearer_tokens && (i == 0 || !is_alnum(s[i - 1])) &&
            core::istarts_with(s.substr(i), "bearer")) {
          std::size_t token = i + 6;
          const std::size_t spaces_begin = token;
          while (token < n && is_space(s[token])) ++token;
          std::size_t end = token;
          while (end < n && is_b64token_char(s[end])) ++end;
          if (token > spaces_begin && end - token >= 8) {
            rewriter.replace(token, end);
            i = end;
            continue;
          }
        }
        ++i;
        continue;
      }

      case kLetterE: {
        if (options_.filter_jwts && i + 3 <= n && s[i + 1] == 'y' && s[i + 2] == 'J' &&
            (i == 0 || !is_token_char(s[i - 1]))) {
          std::size_t j = i + 3;
          while (j < n && is_token_char(s[j])) ++j;
          if (j + 4 <= n && s[j] == '.' && s.substr(j + 1, 3) == "eyJ") {
            j += 4;
            while (j < n && is_token_char(s[j])) ++j;
            if (j < n && s[j] == '.') {
              ++j;
              while (j < n && is_token_char(s[j])) ++j;
              rewriter.replace(i, j);
              i = j;
              continue;
            }
          }
        }
        ++i;
        continue;
      }

      case kColon:
        if (i + 2 < n && s[i + 1] == '/' && s[i + 2] == '/') {
          const std::size_t user_begin = i + 3;
          std::size_t j = user_begin;
          while (j < n && s[j] != '@' && !ends_url_userinfo(s[j])) ++j;
          if (options_.filter_url_credentials && j < n && s[j] == '@') {
            const std::string_view userinfo = s.substr(user_begin, j - user_begin);
            const std::size_t colon = userinfo.find(':');
            if (colon != std::string_view::npos) {
              rewriter.replace(user_begin + colon + 1, j);
            } else if (userinfo.size() >= 16) {
              rewriter.replace(user_begin, j);
            }
            i = j + 1;
            continue;
          }
          i += 3;
          continue;
        }
        [[fallthrough]];
      case kEquals: {
        if (!options_.filter_key_value_pairs) {
          ++i;
          continue;
        }
        // The key ends right before the separator, or before a closing quote ("key": ...).
        std::size_t key_end = i;
        if (key_end > 0 && (s[key_end - 1] == '"' || s[key_end - 1] == '\'')) --key_end;
        std::size_t key_begin = key_end;
        while (key_begin > 0 && key_end - key_begin < 64 && is_key_char(s[key_begin - 1]))
          --key_begin;
        const std::string_view key = s.substr(key_begin, key_end - key_begin);
        if (key.empty() || (key_begin > 0 && is_key_char(s[key_begin - 1])) ||
            !is_sensitive_key(key)) {
          ++i;
          continue;
        }
        std::size_t value = i + 1;
        while (value < n && is_space(s[value])) ++value;
        if (s.substr(value, Scrubber::kFiltered.size()) ==
            Scrubber::kFiltered) {  // scrubbed before
          i = value + Scrubber::kFiltered.size();
          continue;
        }
        if (value < n && (s[value] == '"' || s[value] == '\'')) {
          const char quote = s[value];
          std::size_t end = value + 1;
          while (end < n && s[end] != quote) end += (s[end] == '\\' && end + 1 < n) ? 2 : 1;
          end = std::min(end, n);
          rewriter.replace(value + 1, end);
          i = end;
          continue;
        }
        std::size_t end = value;
        while (end < n && !ends_value(s[end])) ++end;
        // An HTTP auth scheme ("Bearer abc", "Basic dXNl") is part of the secret value.
        if (is_auth_scheme(s.substr(value, end - value)) && end + 1 < n && s[end] == ' ' &&
            !ends_value(s[end + 1])) {
          end += 1;
          while (end < n && !ends_value(s[end])) ++end;
        }
        rewriter.replace(value, end);
        i = std::max(end, i + 1);
        continue;
      }
    }
    ++i;
  }
  return rewriter.finish(out);
}

namespace {

bool is_scheme_char(char c) {
  return is_alnum(c) || c == '+' || c == '-' || c == '.';
}

// Where the user-info may run to: whitespace and quotes end a URL in prose, JSON and logs.
bool ends_url_in_text(char c) {
  return c == '"' || c == '\'' || c == '`' || c == '<' || c == '>' ||
         static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
}

}  // namespace

bool Scrubber::redact_url_userinfo(std::string_view s, std::string& out) {
  Rewriter rewriter(s);
  const std::size_t n = s.size();
  // Only a '/' can start a separator: memchr skips the rest of the text.
  std::size_t slash = 0;
  while (slash < n) {
    const void* found = std::memchr(s.data() + slash, '/', n - slash);
    if (found == nullptr) break;
    const std::size_t p = static_cast<std::size_t>(static_cast<const char*>(found) - s.data());
    // Separators: "://", ":/" and "//" (a scheme whose ':' was lost).
    std::size_t sep_begin = 0, sep_end = 0;
    if (p > 0 && s[p - 1] == ':') {
      sep_begin = p - 1;
      sep_end = p + 1 < n && s[p + 1] == '/' ? p + 2 : p + 1;
    } else if (p + 1 < n && s[p + 1] == '/') {
      sep_begin = p;
      sep_end = p + 2;
    } else {
      slash = p + 1;
      continue;
    }
    std::size_t scheme_begin = sep_begin;
    while (scheme_begin > 0 && is_scheme_char(s[scheme_begin - 1])) --scheme_begin;
    const bool has_scheme = scheme_begin < sep_begin && is_alnum(s[scheme_begin]) &&
                            !is_digit(s[scheme_begin]) &&
                            (scheme_begin == 0 || s[scheme_begin - 1] != '/');
    // A scheme-relative "//user:password@host" (the scheme forgotten) where a value starts.
    const bool starts_value = s[sep_begin] == '/' && sep_end == sep_begin + 2 &&
                              (sep_begin == 0 || ends_url_in_text(s[sep_begin - 1]) ||
                               s[sep_begin - 1] == '=' || s[sep_begin - 1] == '(');
    if (!has_scheme && !starts_value) {
      slash = sep_end;
      continue;
    }
    std::size_t end = sep_end;
    std::size_t last_at = std::string_view::npos;
    std::size_t first_colon = std::string_view::npos;
    while (end < n && !ends_url_in_text(s[end])) {
      if (s[end] == '@') last_at = end;
      if (s[end] == ':' && first_colon == std::string_view::npos) first_colon = end;
      ++end;
    }
    // Without a scheme only "user:password@" counts, so "//host/a@b" paths stay.
    const bool userinfo = last_at != std::string_view::npos && last_at > sep_end &&
                          (has_scheme || first_colon < last_at);
    if (userinfo) rewriter.replace(sep_end, last_at);
    slash = end;
  }
  return rewriter.finish(out);
}

std::string Scrubber::redact_url_userinfo(std::string_view text) {
  std::string out;
  if (!redact_url_userinfo(text, out)) out.assign(text);
  return out;
}

namespace {
struct SharedScrubber {
  std::mutex mutex;
  std::shared_ptr<const Scrubber> scrubber = std::make_shared<const Scrubber>();
};
SharedScrubber& shared_state() {
  // Leaked on purpose: used by background threads and destructors during exit.
  static SharedScrubber* state = new SharedScrubber();
  return *state;
}
}  // namespace

std::shared_ptr<const Scrubber> Scrubber::shared() {
  SharedScrubber& state = shared_state();
  std::lock_guard lock(state.mutex);
  return state.scrubber;
}

void Scrubber::set_shared(ScrubOptions options) {
  auto scrubber = std::make_shared<const Scrubber>(std::move(options));
  SharedScrubber& state = shared_state();
  std::lock_guard lock(state.mutex);
  state.scrubber = std::move(scrubber);
}

}  // namespace monitoring
