#pragma once

// Sentry's rate limits per data category, learned from 429 answers, Retry-After and
// X-Sentry-Rate-Limits. Pure bookkeeping: the caller passes the time in, so the transport
// decides which clock counts and tests can use any time they like.

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "net/http_client.hpp"

namespace monitoring::sentry::detail {

class RateLimits {
 public:
  using Clock = std::chrono::steady_clock;

  /// Reads an answer's headers. X-Sentry-Rate-Limits wins; else a 429 applies Retry-After
  /// (seconds, default 60) to every category.
  void update(long status, const common::HttpHeaders& headers, Clock::time_point now);
  /// True while `category` ("error", "transaction", ...) may not be sent.
  bool limited(std::string_view category, Clock::time_point now) const;
  /// When the limit of `category` ends (now or earlier when not limited).
  Clock::time_point until(std::string_view category) const;

 private:
  std::map<std::string, Clock::time_point, std::less<>> until_;  // "" = every category
};

/// The rate-limit category of an envelope item type.
std::string_view item_category(std::string_view item_type) noexcept;
/// The category of an envelope of ours (its first item's; "error" when it cannot be told),
/// for an envelope read back from the cache directory.
std::string_view envelope_category(std::string_view envelope) noexcept;

}  // namespace monitoring::sentry::detail
