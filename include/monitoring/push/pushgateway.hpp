#pragma once

// Pushing a registry to a Prometheus Pushgateway, for batch jobs that do not live long
// enough to be scraped (the role of prometheus-cpp's Gateway and client_golang's push).

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace monitoring::metrics {

class Registry;

/// Transport settings of a Pushgateway client.
struct PushgatewayOptions {
  /// Limit for one whole push (connect, send, answer).
  std::chrono::milliseconds timeout{5000};
  /// HTTP basic auth. Credentials given in the URL (`http://user:pass@host:9091`) are used
  /// when these are empty; either way they never appear in `url()` or in error messages.
  std::string username{};
  std::string password{};
  /// "Authorization: Bearer <token>" when non-empty.
  std::string bearer_token{};
};

/// Client for one Pushgateway group: the job plus optional grouping labels.
///
/// The group URL is `<base>/metrics/job/<job>{/<label>/<value>}`. A job or label value
/// that is empty or contains '/' is sent in the `@base64` form (base64url, as the
/// Pushgateway documents; an empty value becomes `=`); other values are percent-encoded.
/// The grouping labels become labels of every pushed series on the gateway.
///
/// Each call is one synchronous HTTP request with the configured timeout. A transport
/// failure or a non-2xx answer throws monitoring::Error naming the method, the group URL
/// (without credentials), the status and the beginning of the gateway's explanation.
/// Calls are thread-safe; the object holds no connection state of its own.
class Pushgateway {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  /// `url`: the gateway's base URL, e.g. "http://pushgateway:9091" (a trailing '/' or a
  /// path prefix is fine). Throws monitoring::ConfigError when `url` or `job` is empty, the
  /// URL is not http(s), a grouping label name is invalid, is "job", or repeats.
  Pushgateway(std::string url, std::string job, Labels grouping = {},
              PushgatewayOptions options = {});

  /// PUT: replaces every metric of the group with the registry's metrics.
  void push(const Registry& registry) const;
  /// POST: replaces only the group's metrics that have the same names as pushed ones.
  void push_add(const Registry& registry) const;
  /// DELETE: removes the whole group from the gateway.
  void remove() const;

  /// The group URL (credentials never included).
  const std::string& url() const noexcept { return group_url_; }

  /// The path segments for one grouping pair, "/<name>/<value>" or "/<name>@base64/<b64>".
  /// Exposed for tests and for tools that build Pushgateway URLs.
  static std::string encode_label(std::string_view name, std::string_view value);

 private:
  void send(std::string_view method, const Registry* registry) const;

  std::string group_url_;
  PushgatewayOptions options_;
};

}  // namespace monitoring::metrics
