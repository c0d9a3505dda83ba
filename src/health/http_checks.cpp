// HTTP dependency checks: Telegram Bot API, the admin panel, payment providers.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <memory>
#include <string>
#include <utility>

#include "core/ascii.hpp"
#include "health/engine.hpp"
#include "health/scrub.hpp"
#include "monitoring/error.hpp"
#include "monitoring/health/checks.hpp"
#include "net/http_client.hpp"

namespace monitoring::health {

namespace {

std::atomic<const HttpCheckObserver*> g_observer{nullptr};

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kDeadlineMargin{10};
constexpr std::size_t kMaxBody = 1u << 20;

bool is_http_url(std::string_view url) {
  auto starts = [&](std::string_view prefix) {
    return url.size() > prefix.size() && core::istarts_with(url, prefix);  // a host must follow
  };
  return starts("http://") || starts("https://");
}

void require_http_url(std::string_view url, std::string_view setting) {
  if (!is_http_url(url))
    throw ConfigError(std::string(setting) + " must be an http:// or https:// URL, got '" +
                      common::redact_url(url) + "'");
}

// What a GET to a dependency produced: a status, or the reason there was none.
struct Probe {
  long status = 0;  // 0 = no HTTP answer
  double seconds = 0;
  std::string error;
  std::string body;
  common::HttpHeaders headers;
};

Probe probe(const std::string& url, const CheckContext& context) {
  Probe result;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      context.deadline - kDeadlineMargin - Clock::now());
  if (left.count() <= 0) {
    result.error = "timed out before sending the request";
    return result;
  }
  common::HttpRequest request;
  request.url = url;
  request.timeout = left;
  request.connect_timeout = left;
  request.max_response_bytes = kMaxBody;
  request.user_agent = "monitoring-health/0.1";
  const auto start = Clock::now();
  try {
    common::HttpResponse response = common::http_request(request);
    result.status = response.status;
    result.body = std::move(response.body);
    result.headers = std::move(response.headers);
  } catch (const common::HttpTransportError& error) {
    if (error.kind() == common::HttpTransportError::Kind::kTooLarge) {
      result.status = 200;  // it answered, with more than we care to read
    } else {
      result.error = error.what();
    }
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

// Any answer below 500 means the service is up (a 404 or 401 still proves it runs).
CheckResult up_unless_5xx(const Probe& result) {
  if (result.status == 0) return CheckResult::unhealthy(result.error);
  if (result.status >= 500) return CheckResult::unhealthy("HTTP " + std::to_string(result.status));
  return CheckResult::healthy("HTTP " + std::to_string(result.status));
}

// "username":"name" from getMe's JSON; the bot's public name, not a secret.
std::string bot_username(std::string_view body) {
  constexpr std::string_view kKey = "\"username\":";
  std::size_t at = body.find(kKey);
  if (at == std::string_view::npos) return {};
  at = body.find('"', at + kKey.size());
  if (at == std::string_view::npos) return {};
  const std::size_t end = body.find('"', at + 1);
  if (end == std::string_view::npos || end - at - 1 > 64) return {};
  std::string name(body.substr(at + 1, end - at - 1));
  const bool plain = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
  return plain ? name : std::string();
}

bool telegram_ok(std::string_view body) {
  std::string compact;
  for (char c : body.substr(0, 256))
    if (!std::isspace(static_cast<unsigned char>(c))) compact.push_back(c);
  return compact.find("\"ok\":true") != std::string::npos;
}

std::string retry_after(const Probe& result) {
  if (auto header = result.headers.get("Retry-After")) {
    std::string value(header->substr(0, 16));
    if (!value.empty() && std::all_of(value.begin(), value.end(), ::isdigit)) return value;
  }
  constexpr std::string_view kKey = "\"retry_after\":";
  const std::size_t at = result.body.find(kKey);
  if (at == std::string::npos) return {};
  std::string digits;
  for (std::size_t i = at + kKey.size(); i < result.body.size() && digits.size() < 10; ++i) {
    if (std::isdigit(static_cast<unsigned char>(result.body[i])))
      digits.push_back(result.body[i]);
    else if (!digits.empty() || result.body[i] != ' ')
      break;
  }
  return digits;
}

}  // namespace

CheckFunction telegram_check(std::string token, std::string api_url) {
  if (token.empty()) throw ConfigError("TELEGRAM_TOKEN is empty");
  const bool well_formed =
      token.find(':') != std::string::npos && std::all_of(token.begin(), token.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '_' || c == '-';
      });
  // Never echo the token, not even a malformed one.
  if (!well_formed)
    throw ConfigError(
        "TELEGRAM_TOKEN is malformed (expected <bot id>:<secret>, letters, digits, '_' and '-')");
  if (api_url.empty()) api_url = "https://api.telegram.org";
  require_http_url(api_url, "TELEGRAM_API_URL");
  while (!api_url.empty() && api_url.back() == '/') api_url.pop_back();

  struct Target {
    std::string url;
    std::string token;
  };
  auto target = std::make_shared<const Target>(Target{api_url + "/bot" + token + "/getMe", token});
  return [target](const CheckContext& context) {
    const Probe result = probe(target->url, context);
    auto scrubbed = [&](std::string message, Status status) {
      return CheckResult{status, detail::scrub_message(message, {target->token})};
    };
    switch (result.status) {
      case 0:
        return scrubbed(result.error, Status::unhealthy);
      case 200: {
        if (!telegram_ok(result.body))
          return scrubbed("getMe answered 200 without \"ok\":true", Status::unhealthy);
        const std::string name = bot_username(result.body);
        return scrubbed(name.empty() ? "ok" : "ok (@" + name + ")", Status::healthy);
      }
      case 401:
        return scrubbed("invalid token (HTTP 401)", Status::unhealthy);
      case 404:
        return scrubbed("invalid token or API URL (HTTP 404)", Status::unhealthy);
      case 429: {
        const std::string wait = retry_after(result);
        return scrubbed(
            "rate limited (HTTP 429" + (wait.empty() ? "" : ", retry after " + wait + " s") + ")",
            Status::degraded);
      }
      default:
        return scrubbed("HTTP " + std::to_string(result.status), Status::unhealthy);
    }
  };
}

void set_http_check_observer(const HttpCheckObserver* observer) noexcept {
  g_observer.store(observer, std::memory_order_release);
}

CheckFunction panel_check(std::string url) {
  require_http_url(url, "PANEL_URL");
  return [url = std::move(url)](const CheckContext& context) {
    const Probe result = probe(url, context);
    if (result.status != 0)
      if (const HttpCheckObserver* observer = g_observer.load(std::memory_order_acquire))
        observer->panel_answered(result.seconds);
    return up_unless_5xx(result);
  };
}

namespace {

/// Tells the observer that a payment check exists, for as long as a copy of the check holds it;
/// the one it told hears of the end, even if another observer was installed meanwhile.
class PaymentCheckClaim {
 public:
  explicit PaymentCheckClaim(std::string name)
      : name_(std::move(name)), observer_(g_observer.load(std::memory_order_acquire)) {
    if (observer_ != nullptr && observer_->payment_check_added != nullptr)
      observer_->payment_check_added(name_);
  }
  PaymentCheckClaim(const PaymentCheckClaim&) = delete;
  PaymentCheckClaim& operator=(const PaymentCheckClaim&) = delete;
  ~PaymentCheckClaim() {
    if (observer_ != nullptr && observer_->payment_check_removed != nullptr)
      observer_->payment_check_removed(name_);
  }

 private:
  std::string name_;
  const HttpCheckObserver* observer_;
};

}  // namespace

CheckFunction payment_system_check(std::string name, std::string url) {
  detail::validate_check_name("payment:" + name);
  require_http_url(url, "PAYMENT_SYSTEMS entry '" + name + "'");
  auto claim = std::make_shared<const PaymentCheckClaim>(name);
  return [name = std::move(name), url = std::move(url),
          claim = std::move(claim)](const CheckContext& context) {
    const Probe result = probe(url, context);
    CheckResult verdict = up_unless_5xx(result);
    if (const HttpCheckObserver* observer = g_observer.load(std::memory_order_acquire))
      observer->payment_system_checked(name, verdict.status == Status::healthy);
    return verdict;
  };
}

}  // namespace monitoring::health
