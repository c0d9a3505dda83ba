#pragma once

// Keeps secrets out of health messages: every check message (built-in or user-supplied, and
// every exception text) passes through scrub_message before anyone can see it.

#include <initializer_list>
#include <string>
#include <string_view>

namespace monitoring::health::detail {

/// `text` with these replaced by "[Filtered]": each given secret (3 bytes or longer) wherever
/// it occurs; the user-info of anything URL-like (Scrubber::redact_url_userinfo); the secret
/// parts of URLs (secret-looking query parameters, bot tokens in paths, via
/// common::redact_url); then whatever the shared Scrubber finds
/// (Telegram bot tokens, `Bearer <token>`, password=/token= pairs, card numbers, ...).
std::string scrub_message(std::string_view text,
                          std::initializer_list<std::string_view> secrets = {});

}  // namespace monitoring::health::detail
