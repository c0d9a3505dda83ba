// Parsing of rate-limit answers and the per-category limits they set.

#include "sentry/rate_limits.hpp"

#include <charconv>
#include <string>
#include <string_view>

namespace monitoring::sentry::detail {

std::string_view item_category(std::string_view item_type) noexcept {
  if (item_type == "event") return "error";
  if (item_type == "transaction") return "transaction";
  if (item_type == "client_report") return "internal";
  return item_type;
}

std::string_view envelope_category(std::string_view envelope) noexcept {
  const std::size_t header_end = envelope.find('\n');
  if (header_end == std::string_view::npos) return "error";
  std::string_view item_header = envelope.substr(header_end + 1);
  item_header = item_header.substr(0, item_header.find('\n'));
  constexpr std::string_view kType = "\"type\":\"";
  const std::size_t start = item_header.find(kType);
  if (start == std::string_view::npos) return "error";
  const std::string_view rest = item_header.substr(start + kType.size());
  const std::size_t end = rest.find('"');
  if (end == std::string_view::npos) return "error";
  const std::string_view category = item_category(rest.substr(0, end));
  // Only the categories this client sends: the text comes from a file.
  return category == "session" || category == "transaction" ? category : "error";
}

void RateLimits::update(long status, const common::HttpHeaders& headers, Clock::time_point now) {
  auto extend = [&](const std::string& category, Clock::time_point until) {
    auto& slot = until_[category];
    if (slot < until) slot = until;
  };
  if (auto limits = headers.get("X-Sentry-Rate-Limits")) {
    // "retry_after:categories:scope[:reason[:namespaces]], ..."; categories ';'-separated,
    // empty = every category.
    std::string_view text = *limits;
    while (!text.empty()) {
      const std::size_t comma = text.find(',');
      std::string_view group = text.substr(0, comma);
      text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
      while (!group.empty() && group.front() == ' ') group.remove_prefix(1);
      const std::size_t colon = group.find(':');
      double seconds = 0;
      std::string_view number = group.substr(0, colon);
      auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), seconds);
      if (error != std::errc() || seconds < 0) continue;
      const auto until =
          now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
      std::string_view categories =
          colon == std::string_view::npos ? std::string_view() : group.substr(colon + 1);
      categories = categories.substr(0, categories.find(':'));
      if (categories.empty()) {
        extend("", until);
        continue;
      }
      while (!categories.empty()) {
        const std::size_t semi = categories.find(';');
        std::string_view category = categories.substr(0, semi);
        if (!category.empty()) extend(std::string(category), until);
        categories =
            semi == std::string_view::npos ? std::string_view() : categories.substr(semi + 1);
      }
    }
    return;
  }
  if (status != 429) return;
  double seconds = 60;
  if (auto retry_after = headers.get("Retry-After")) {
    double value = 0;
    auto [end, error] =
        std::from_chars(retry_after->data(), retry_after->data() + retry_after->size(), value);
    if (error == std::errc() && value >= 0) seconds = value;
  }
  extend("",
         now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
}

RateLimits::Clock::time_point RateLimits::until(std::string_view category) const {
  Clock::time_point result{};
  if (auto all = until_.find(std::string_view()); all != until_.end()) result = all->second;
  if (auto it = until_.find(category); it != until_.end() && it->second > result)
    result = it->second;
  return result;
}

bool RateLimits::limited(std::string_view category, Clock::time_point now) const {
  if (category == "internal") return false;  // client reports are never limited by category
  return until(category) > now;
}

}  // namespace monitoring::sentry::detail
