#pragma once

// The one scrubber of the library: log records, Sentry events and health output pass through
// it so a secret never reaches any of them.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace monitoring {

/// What the scrubber looks for beyond its built-in rules.
struct ScrubOptions {
  /// More sensitive key terms, matched case-insensitively anywhere inside a key
  /// (e.g. "iban" also filters "payer_iban").
  std::vector<std::string> extra_keys{};
  /// Keys (compared case-insensitively, whole key) never filtered by the key rules, for
  /// names that look sensitive but are not, e.g. "token_count".
  std::vector<std::string> safe_keys{};
  /// Secret prefixes: any token starting with one of them is filtered wherever it appears
  /// in a value, e.g. "sk_live_", "ghp_", "xoxb-". A token runs until whitespace, a quote or
  /// one of `,;&)]}>`.
  std::vector<std::string> value_prefixes{};
  /// Value rules that can be switched off (all on by default).
  bool filter_card_numbers = true;
  bool filter_bearer_tokens = true;
  bool filter_jwts = true;
  bool filter_telegram_tokens = true;
  bool filter_url_credentials = true;
  bool filter_key_value_pairs = true;  ///< `password=...`, `token: ...`, `?api_key=...`
};

/// Replaces secrets with `[Filtered]`.
///
/// **Keys** (field names): a key is sensitive when it contains, case-insensitively, one of
/// password, passwd, secret, token, api_key, apikey, access_key, authorization, cookie,
/// credential, private_key, privatekey, cvv, cvc, cardnumber, creditcard, or the extra
/// terms. Short terms that are prefixes of ordinary words match only as whole words of the
/// key: auth, card, dsn, pass (so "author", "discard" and "passenger" stay), and session
/// must start a word ("session_id", "sessionid" but not "possession"). Words are split at
/// `_`, `-`, `.`, spaces and camelCase boundaries ("X-Auth-Token", "authKey", "cardNumber").
///
/// **Values** (messages included), hand-written scanners with no regex and no allocation
/// unless something is found:
/// - Telegram bot tokens `\d{6,10}:[A-Za-z0-9_-]{35,}` (also inside `/bot<token>/` URLs);
/// - `Bearer <token>` (token of 8+ characters; the word "Bearer" stays);
/// - card numbers: 13-19 digits, optionally grouped by single spaces or dashes, that pass
///   the Luhn check (so most order ids stay);
/// - JWTs `eyJ<...>.eyJ<...>.<...>`;
/// - URL credentials `scheme://user:password@` (the password), and `scheme://key@` when the
///   user part is 16+ characters (DSN keys, access tokens in URLs);
/// - `key=value` and `key: value` (query strings, form bodies, JSON text) whose key is
///   sensitive by the key rules;
/// - tokens starting with a configured prefix.
///
/// Immutable after construction: one instance may be used from any number of threads.
class Scrubber {
 public:
  static constexpr std::string_view kFiltered = "[Filtered]";

  Scrubber();
  explicit Scrubber(ScrubOptions options);

  /// True when a field with this name must have its value replaced.
  bool is_sensitive_key(std::string_view key) const noexcept;

  /// Scans `text` for secret-looking values. Returns false and leaves `out` untouched when
  /// there is nothing to filter (the common case, no allocation); otherwise replaces `out`
  /// with the scrubbed text and returns true.
  bool scrub(std::string_view text, std::string& out) const;
  /// Convenience: the scrubbed text.
  std::string scrubbed(std::string_view text) const;

  /// Removes the user-info of everything URL-like in `text`, without parsing the URLs so
  /// malformed values are covered too: after a scheme-like word followed by `://`, `:/` or
  /// `//`, everything up to the last '@' before the next whitespace, quote, '<' or '>'
  /// becomes "[Filtered]" (the scheme and what follows the '@' stay). A value starting with
  /// `//user:password@` (scheme forgotten) is covered as well. Returns false and leaves
  /// `out` untouched when there is nothing to remove (no allocation).
  static bool redact_url_userinfo(std::string_view text, std::string& out);
  /// Convenience: `text` with the user-info of its URLs removed.
  static std::string redact_url_userinfo(std::string_view text);

  /// True when an integer value looks like a card number (13-19 digits, Luhn-valid).
  bool is_card_number(std::uint64_t value) const noexcept;

  const ScrubOptions& options() const noexcept { return options_; }

  /// The process-wide scrubber used by logging, Sentry and health output.
  static std::shared_ptr<const Scrubber> shared();
  /// Replaces the process-wide scrubber (components pick it up for their next record).
  static void set_shared(ScrubOptions options);

 private:
  bool key_matches(std::string_view key) const noexcept;

  ScrubOptions options_;
  std::vector<std::string> lowered_extra_keys_;
  std::vector<std::string> lowered_safe_keys_;
  bool prefix_first_byte_[256] = {};
  // Bytes that can start nothing the value rules look for, skipped in a tight loop.
  bool inert_byte_[256] = {};
};

/// True when `digits` (ASCII digits only) passes the Luhn checksum.
bool luhn_valid(std::string_view digits) noexcept;

}  // namespace monitoring
