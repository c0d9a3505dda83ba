#pragma once

// Keeps secrets out of health messages: every check message (built-in or user-supplied, and
// every exception text) passes through scrub_message before anyone can see it.

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace monitoring::health::detail {

/// `text` with these replaced by "[Filtered]": each given secret (3 bytes or longer) wherever
/// it occurs; the user-info of anything URL-like (Scrubber::redact_url_userinfo); the secret
/// parts of URLs (secret-looking query parameters, bot tokens in paths, via
/// common::redact_url); then whatever the shared Scrubber finds
/// (Telegram bot tokens, `Bearer <token>`, password=/token= pairs, card numbers, ...).
std::string scrub_message(std::string_view text,
                          std::initializer_list<std::string_view> secrets = {});
/// The same with secrets known only at run time.
std::string scrub_message(std::string_view text, std::span<const std::string> secrets);

/// The pieces of the password in a URL-like value, found without parsing it: the text between
/// the first ':' after "scheme://" and the last '@' of the value, whole and split at '/', '?',
/// '#', ':' and '@'. A password holding an unencoded '/' makes parsers read a piece of it as
/// a port or a path ("postgresql://app:S3cret/Passw0rd@db" → port "S3cret"), and their error
/// messages quote it back; scrubbing every piece keeps those messages clean.
std::vector<std::string> userinfo_password_pieces(std::string_view value);

}  // namespace monitoring::health::detail
