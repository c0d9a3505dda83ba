#include "monitoring/push/pushgateway.hpp"

#include <algorithm>
#include <string>

#include "monitoring/error.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"
#include "net/http_client.hpp"

namespace monitoring::metrics {
namespace {

// How much of the gateway's error body goes into an exception: it explains the problem
// in its first line, the rest would only bloat logs.
constexpr std::size_t kErrorBodyExcerpt = 512;

// RFC 4648 §5 (URL and filename safe alphabet), padded: the Pushgateway's @base64 form.
std::string base64url(std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const unsigned v = static_cast<unsigned char>(data[i]) << 16 |
                       static_cast<unsigned char>(data[i + 1]) << 8 |
                       static_cast<unsigned char>(data[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (const std::size_t rest = data.size() - i; rest > 0) {
    unsigned v = static_cast<unsigned char>(data[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

struct SplitUrl {
  std::string without_credentials;
  std::string username;
  std::string password;
};

// Moves "user:password@" out of the URL: credentials go in the Authorization header, and
// the URL we keep (and show in errors) stays clean.
SplitUrl split_credentials(const std::string& url) {
  SplitUrl result{url, {}, {}};
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return result;
  const std::size_t authority_start = scheme_end + 3;
  std::size_t authority_end = url.find_first_of("/?#", authority_start);
  if (authority_end == std::string::npos) authority_end = url.size();
  const std::string_view authority =
      std::string_view(url).substr(authority_start, authority_end - authority_start);
  const std::size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return result;
  const std::string_view userinfo = authority.substr(0, at);
  const std::size_t colon = userinfo.find(':');
  result.username = common::percent_decode(userinfo.substr(0, colon));
  if (colon != std::string_view::npos)
    result.password = common::percent_decode(userinfo.substr(colon + 1));
  result.without_credentials =
      url.substr(0, authority_start) + url.substr(authority_start + at + 1);
  return result;
}

bool starts_with_http_scheme(std::string_view url) {
  auto lowered = std::string(url.substr(0, 8));
  std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; });
  return lowered.starts_with("http://") || lowered.starts_with("https://");
}

}  // namespace

std::string Pushgateway::encode_label(std::string_view name, std::string_view value) {
  std::string segment = "/";
  segment.append(name);
  if (value.empty()) {
    // Path segments cannot be empty; the Pushgateway reads a lone "=" as the empty value.
    segment.append("@base64/=");
  } else if (value.find('/') != std::string_view::npos) {
    // Even a percent-encoded '/' (%2F) is unsafe: proxies and routers decode it.
    segment.append("@base64/");
    segment.append(base64url(value));
  } else {
    segment.push_back('/');
    segment.append(common::percent_encode(value));
  }
  return segment;
}

Pushgateway::Pushgateway(std::string url, std::string job, Labels grouping,
                         PushgatewayOptions options)
    : options_(std::move(options)) {
  if (url.empty()) throw ConfigError("Pushgateway URL is empty");
  SplitUrl split = split_credentials(url);
  if (!starts_with_http_scheme(split.without_credentials))
    throw ConfigError("Pushgateway URL '" + common::redact_url(url) +
                      "' must start with http:// or https://");
  if (job.empty())
    throw ConfigError("Pushgateway job name is empty (URL '" + common::redact_url(url) + "')");
  if (options_.username.empty() && options_.password.empty()) {
    options_.username = std::move(split.username);
    options_.password = std::move(split.password);
  }

  std::string base = std::move(split.without_credentials);
  if (base.find_first_of("?#") != std::string::npos)
    throw ConfigError("Pushgateway URL '" + common::redact_url(base) +
                      "' must not contain a query or fragment");
  while (!base.empty() && base.back() == '/') base.pop_back();

  group_url_ = base + "/metrics" + encode_label("job", job);
  for (std::size_t i = 0; i < grouping.size(); ++i) {
    const auto& [name, value] = grouping[i];
    try {
      validate_label_name(name);
    } catch (const MetricError& error) {
      throw ConfigError("Pushgateway grouping label: " + std::string(error.what()));
    }
    if (name == "job")
      throw ConfigError(
          "Pushgateway grouping label 'job' is not allowed: the job is given separately");
    for (std::size_t j = 0; j < i; ++j)
      if (grouping[j].first == name)
        throw ConfigError("Pushgateway grouping label '" + name + "' is given twice");
    group_url_ += encode_label(name, value);
  }
}

void Pushgateway::push(const Registry& registry) const {
  send("PUT", &registry);
}

void Pushgateway::push_add(const Registry& registry) const {
  send("POST", &registry);
}

void Pushgateway::remove() const {
  send("DELETE", nullptr);
}

void Pushgateway::send(std::string_view method, const Registry* registry) const {
  common::HttpRequest request;
  request.method = std::string(method);
  request.url = group_url_;
  request.timeout = options_.timeout;
  request.connect_timeout = std::min(options_.timeout, request.connect_timeout);
  request.username = options_.username;
  request.password = options_.password;
  request.bearer_token = options_.bearer_token;
  if (registry != nullptr) {
    request.body = serialize(*registry, ExpositionFormat::kText);
    request.headers.add("Content-Type", std::string(content_type(ExpositionFormat::kText)));
  }

  common::HttpResponse response;
  try {
    response = common::http_request(request);
  } catch (const common::HttpTransportError& error) {
    throw Error(std::string("Pushgateway ") + error.what());
  }
  if (response.ok()) return;

  std::size_t excerpt_size = std::min(response.body.size(), kErrorBodyExcerpt);
  // Do not cut a UTF-8 sequence in half.
  while (excerpt_size < response.body.size() && excerpt_size > 0 &&
         (static_cast<unsigned char>(response.body[excerpt_size]) & 0xC0) == 0x80)
    --excerpt_size;
  std::string excerpt = response.body.substr(0, excerpt_size);
  while (!excerpt.empty() && (excerpt.back() == '\n' || excerpt.back() == '\r')) excerpt.pop_back();
  throw Error("Pushgateway " + request.method + " " + group_url_ + " answered HTTP " +
              std::to_string(response.status) + (excerpt.empty() ? "" : ": " + excerpt));
}

}  // namespace monitoring::metrics
