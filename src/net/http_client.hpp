#pragma once

// Internal synchronous HTTP client over libcurl, shared by the Pushgateway client, the
// health checks (panel, payment systems, Telegram) and the Sentry transport.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "monitoring/error.hpp"

namespace monitoring::common {

/// Header fields in arrival order. Names compare case-insensitively (RFC 9110 §5.1);
/// a name may occur more than once.
class HttpHeaders {
 public:
  using Entry = std::pair<std::string, std::string>;

  void add(std::string name, std::string value) {
    entries_.emplace_back(std::move(name), std::move(value));
  }
  void clear() noexcept { entries_.clear(); }

  /// The first value of `name`, if present.
  std::optional<std::string_view> get(std::string_view name) const;
  /// Every value of `name`, in arrival order.
  std::vector<std::string_view> get_all(std::string_view name) const;
  bool contains(std::string_view name) const { return get(name).has_value(); }

  const std::vector<Entry>& entries() const noexcept { return entries_; }
  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }

 private:
  std::vector<Entry> entries_;
};

/// One HTTP exchange to perform. Only `url` is required.
struct HttpRequest {
  std::string method = "GET";  ///< any token; GET and HEAD get libcurl's dedicated modes
  std::string url;             ///< http:// or https:// only; other schemes are refused
  HttpHeaders headers;         ///< sent as given ("Name: value")
  std::string body;            ///< sent for any method other than GET/HEAD when non-empty,
                               ///< and always for POST/PUT/PATCH (possibly empty)
  std::chrono::milliseconds connect_timeout{2000};  ///< TCP + TLS handshake
  std::chrono::milliseconds timeout{5000};          ///< whole exchange, connect included
  std::string username;  ///< HTTP basic auth when non-empty (with `password`)
  std::string password;
  std::string bearer_token;       ///< "Authorization: Bearer <token>" when non-empty
  bool follow_redirects = false;  ///< off: a 3xx is returned as is (no surprise hops)
  long max_redirects = 5;
  bool verify_tls = true;  ///< peer certificate and host name
  std::string ca_file;     ///< PEM bundle to trust instead of the system store (e.g. a test CA)
  std::size_t max_response_bytes = 16u << 20;  ///< larger bodies fail the request
  std::string user_agent = "monitoring-cpp/0.1";
};

/// What the server answered. Any status (including 4xx/5xx) is a response, not an error.
struct HttpResponse {
  long status = 0;
  HttpHeaders headers;  ///< of the final response (after redirects, if followed)
  std::string body;
  std::string effective_url;  ///< the URL that answered, credentials included as given

  bool ok() const noexcept { return status >= 200 && status < 300; }
};

/// The request never produced a response: DNS failure, refused connection, timeout, TLS
/// failure, oversize body, bad URL. `what()` names the method and the redacted URL and
/// carries libcurl's description.
class HttpTransportError : public Error {
 public:
  enum class Kind { kResolve, kConnect, kTimeout, kTls, kTooLarge, kInvalidRequest, kOther };

  HttpTransportError(Kind kind, const std::string& message) : Error(message), kind_(kind) {}
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

/// Performs `request` on the calling thread and returns the response.
///
/// Thread-safe: each thread keeps its own libcurl handle, so connections to the same host
/// are reused across calls from that thread and threads never share connection state.
/// libcurl's global initialization runs once, on the first call from any thread.
/// Throws HttpTransportError when no HTTP response arrives in time.
HttpResponse http_request(const HttpRequest& request);

/// `url` with its secrets replaced by "[Filtered]": the user-info part (`user:password@`,
/// or a bare key as in a Sentry DSN), the values of secret-looking query or fragment
/// parameters (token, key, secret, password, auth, signature, session, ...), and Telegram
/// bot tokens in the path (`/bot123456:ABC.../`). Everything else is kept verbatim so the
/// result still identifies the endpoint.
std::string redact_url(std::string_view url);

/// Percent-encodes everything outside RFC 3986 "unreserved" (A-Z a-z 0-9 - . _ ~).
std::string percent_encode(std::string_view text);

/// Percent-decodes `%XX` sequences (invalid ones are kept as they are).
std::string percent_decode(std::string_view text);

}  // namespace monitoring::common
