#include "net/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "core/ascii.hpp"
#include "monitoring/scrub.hpp"

namespace monitoring::common {
namespace {

using core::ascii_lower;
using core::iequals;

constexpr std::string_view kFiltered = Scrubber::kFiltered;

// ASCII only, independent of the global C locale.
bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_alnum(char c) noexcept {
  return is_alpha(c) || is_digit(c);
}

// ---------------------------------------------------------------------------------------------
// URL redaction

// Parameter names whose values are credentials more often than not. Matched as substrings of
// the lower-cased name, so "access_token", "X-Amz-Signature" and "api-key" are all caught;
// over-redacting a harmless parameter costs less than leaking a secret.
constexpr std::array<std::string_view, 12> kSecretParamParts = {
    "token", "key",     "secret",     "pass",   "pwd", "auth",
    "sig",   "session", "credential", "cookie", "dsn", "jwt"};

bool is_secret_param(std::string_view name) {
  std::string lowered = percent_decode(name);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), ascii_lower);
  return std::any_of(
      kSecretParamParts.begin(), kSecretParamParts.end(),
      [&](std::string_view part) { return lowered.find(part) != std::string::npos; });
}

// "k=v&k2=v2" (also ';'-separated) with the values of secret-looking keys replaced.
void append_redacted_params(std::string& out, std::string_view params) {
  std::size_t start = 0;
  while (start <= params.size()) {
    std::size_t end = params.find_first_of("&;", start);
    if (end == std::string_view::npos) end = params.size();
    std::string_view param = params.substr(start, end - start);
    std::size_t eq = param.find('=');
    if (eq != std::string_view::npos && eq + 1 < param.size() &&
        is_secret_param(param.substr(0, eq))) {
      out.append(param.substr(0, eq + 1));
      out.append(kFiltered);
    } else {
      out.append(param);
    }
    if (end == params.size()) break;
    out.push_back(params[end]);
    start = end + 1;
  }
}

// A Telegram Bot API token as it appears in a path segment: "bot123456:AAH...". The
// numeric bot id is followed by a colon and a long base64url-ish secret.
bool is_telegram_token_segment(std::string_view segment, std::size_t& secret_start) {
  std::size_t pos = segment.starts_with("bot") ? 3 : 0;
  std::size_t digits = 0;
  while (pos + digits < segment.size() && is_digit(segment[pos + digits])) ++digits;
  if (digits < 3 || pos + digits >= segment.size() || segment[pos + digits] != ':') return false;
  std::string_view secret = segment.substr(pos + digits + 1);
  if (secret.size() < 20) return false;
  if (!std::all_of(secret.begin(), secret.end(),
                   [](char c) { return is_alnum(c) || c == '_' || c == '-'; }))
    return false;
  secret_start = pos;
  return true;
}

void append_redacted_path(std::string& out, std::string_view path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(start, end - start);
    std::size_t secret_start = 0;
    if (is_telegram_token_segment(segment, secret_start)) {
      out.append(segment.substr(0, secret_start));
      out.append(kFiltered);
    } else {
      out.append(segment);
    }
    if (end == path.size()) break;
    out.push_back('/');
    start = end + 1;
  }
}

bool is_scheme(std::string_view text) noexcept {
  if (text.empty() || !is_alpha(text.front())) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return is_alnum(c) || c == '+' || c == '-' || c == '.'; });
}

// ---------------------------------------------------------------------------------------------
// libcurl plumbing

void ensure_curl_initialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    // curl_global_init is not thread-safe itself; call_once serializes it and a failure
    // (thrown) leaves the flag unset so a later call can retry.
    if (CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK)
      throw HttpTransportError(
          HttpTransportError::Kind::kOther,
          std::string("libcurl initialization failed: ") + curl_easy_strerror(rc));
  });
}

// One easy handle per thread: keeps the connection cache (keep-alive, TLS sessions, DNS)
// across requests of that thread, and handles are never shared between threads.
class ThreadHandle {
 public:
  ThreadHandle() = default;
  ThreadHandle(const ThreadHandle&) = delete;
  ThreadHandle& operator=(const ThreadHandle&) = delete;
  ~ThreadHandle() {
    if (handle_ != nullptr) curl_easy_cleanup(handle_);
  }

  CURL* get() {
    if (handle_ == nullptr) {
      handle_ = curl_easy_init();
      if (handle_ == nullptr)
        throw HttpTransportError(HttpTransportError::Kind::kOther, "curl_easy_init failed");
    } else {
      curl_easy_reset(handle_);  // drops options, keeps live connections and caches
    }
    return handle_;
  }

 private:
  CURL* handle_ = nullptr;
};

struct SlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

void append_header(Slist& list, const std::string& line) {
  curl_slist* extended = curl_slist_append(list.get(), line.c_str());
  if (extended == nullptr) throw std::bad_alloc();
  (void)list.release();
  list.reset(extended);
}

struct TransferState {
  HttpResponse* response;
  std::size_t max_body;
  bool too_large = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<TransferState*>(user);
  const std::size_t bytes = size * count;
  if (state->response->body.size() + bytes > state->max_body) {
    state->too_large = true;
    return 0;  // makes libcurl abort with CURLE_WRITE_ERROR
  }
  state->response->body.append(data, bytes);
  return bytes;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* state = static_cast<TransferState*>(user);
  const std::size_t bytes = size * count;
  std::string_view line(data, bytes);
  // libcurl hands over each line with its CRLF.
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    // A new status line: an interim 1xx or a followed redirect precedes the final response.
    state->response->headers.clear();
  } else if (std::size_t colon = line.find(':'); colon != std::string_view::npos) {
    state->response->headers.add(std::string(core::trim_blanks(line.substr(0, colon))),
                                 std::string(core::trim_blanks(line.substr(colon + 1))));
  }
  return bytes;
}

HttpTransportError::Kind classify(CURLcode code, bool too_large) {
  using Kind = HttpTransportError::Kind;
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return Kind::kResolve;
    case CURLE_COULDNT_CONNECT:
      return Kind::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return Kind::kTimeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
      return Kind::kTls;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Kind::kInvalidRequest;
    case CURLE_WRITE_ERROR:
      return too_large ? Kind::kTooLarge : Kind::kOther;
    default:
      return Kind::kOther;
  }
}

// Removes any occurrence of the request's own secrets from libcurl's error text.
std::string scrub_secrets(std::string text, const HttpRequest& request) {
  for (const std::string* secret : {&request.password, &request.bearer_token}) {
    if (secret->empty()) continue;
    for (std::size_t pos = text.find(*secret); pos != std::string::npos;
         pos = text.find(*secret, pos + kFiltered.size()))
      text.replace(pos, secret->size(), kFiltered);
  }
  return text;
}

// strerror is not guaranteed thread-safe; accept both strerror_r flavours (GNU and XSI).
[[maybe_unused]] std::string errno_text(int result, const char* buffer) {
  return result == 0 ? std::string(buffer) : std::string("errno ");
}
[[maybe_unused]] std::string errno_text(const char* text, const char*) {
  return text;
}

std::string describe_errno(int error) {
  char buffer[128] = {};
  return errno_text(strerror_r(error, buffer, sizeof(buffer)), buffer);
}

[[noreturn]] void throw_invalid(const HttpRequest& request, std::string_view why) {
  throw HttpTransportError(
      HttpTransportError::Kind::kInvalidRequest,
      "HTTP " + request.method + " " + redact_url(request.url) + " not sent: " + std::string(why));
}

bool is_token(std::string_view text) noexcept {
  // RFC 9110 token characters; rejects spaces, CR/LF and separators.
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return is_alnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool has_line_break(std::string_view text) noexcept {
  return text.find_first_of("\r\n") != std::string_view::npos ||
         text.find('\0') != std::string_view::npos;
}

void validate(const HttpRequest& request) {
  if (request.url.empty()) throw_invalid(request, "the URL is empty");
  if (!is_token(request.method)) throw_invalid(request, "the method is not an HTTP token");
  if (has_line_break(request.url)) throw_invalid(request, "the URL contains a line break");
  for (const auto& [name, value] : request.headers.entries()) {
    if (!is_token(name)) throw_invalid(request, "header name '" + name + "' is not an HTTP token");
    if (has_line_break(value))
      throw_invalid(request, "header '" + name + "' contains a line break");
  }
  if (has_line_break(request.bearer_token))
    throw_invalid(request, "the bearer token contains a line break");
  if (request.timeout.count() <= 0) throw_invalid(request, "the timeout must be positive");
  if (request.connect_timeout.count() <= 0)
    throw_invalid(request, "the connect timeout must be positive");
}

// curl_easy_setopt is variadic; a failed option is a programming or build error, reported
// with the option's number.
template <class T>
void set(CURL* handle, CURLoption option, T value, const HttpRequest& request) {
  if (CURLcode rc = curl_easy_setopt(handle, option, value); rc != CURLE_OK)
    throw_invalid(request, "libcurl refused option " + std::to_string(static_cast<int>(option)) +
                               ": " + curl_easy_strerror(rc));
}

}  // namespace

std::optional<std::string_view> HttpHeaders::get(std::string_view name) const {
  for (const auto& [key, value] : entries_)
    if (iequals(key, name)) return std::string_view(value);
  return std::nullopt;
}

std::vector<std::string_view> HttpHeaders::get_all(std::string_view name) const {
  std::vector<std::string_view> values;
  for (const auto& [key, value] : entries_)
    if (iequals(key, name)) values.emplace_back(value);
  return values;
}

HttpResponse http_request(const HttpRequest& request) {
  validate(request);
  ensure_curl_initialized();
  thread_local ThreadHandle thread_handle;
  CURL* handle = thread_handle.get();

  HttpResponse response;
  TransferState state{&response, request.max_response_bytes};
  char error_buffer[CURL_ERROR_SIZE] = {};

  set(handle, CURLOPT_ERRORBUFFER, error_buffer, request);
  set(handle, CURLOPT_NOSIGNAL, 1L, request);  // no SIGALRM for DNS timeouts: thread-safe
  set(handle, CURLOPT_URL, request.url.c_str(), request);
  set(handle, CURLOPT_PROTOCOLS_STR, "http,https", request);
  set(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https", request);
  set(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request.connect_timeout.count()),
      request);
  set(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()), request);
  set(handle, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L, request);
  set(handle, CURLOPT_MAXREDIRS, request.max_redirects, request);
  set(handle, CURLOPT_SSL_VERIFYPEER, request.verify_tls ? 1L : 0L, request);
  set(handle, CURLOPT_SSL_VERIFYHOST, request.verify_tls ? 2L : 0L, request);
  if (!request.ca_file.empty()) set(handle, CURLOPT_CAINFO, request.ca_file.c_str(), request);
  if (!request.user_agent.empty())
    set(handle, CURLOPT_USERAGENT, request.user_agent.c_str(), request);

  set(handle, CURLOPT_WRITEFUNCTION, &on_body, request);
  set(handle, CURLOPT_WRITEDATA, static_cast<void*>(&state), request);
  set(handle, CURLOPT_HEADERFUNCTION, &on_header, request);
  set(handle, CURLOPT_HEADERDATA, static_cast<void*>(&state), request);

  const std::string& method = request.method;
  const bool sends_body =
      !(method == "GET" || method == "HEAD") &&
      (!request.body.empty() || method == "POST" || method == "PUT" || method == "PATCH");
  if (method == "GET") {
    set(handle, CURLOPT_HTTPGET, 1L, request);
  } else if (method == "HEAD") {
    set(handle, CURLOPT_NOBODY, 1L, request);
  } else {
    if (sends_body) {
      set(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()),
          request);
      set(handle, CURLOPT_POSTFIELDS, request.body.data(), request);
    }
    if (method != "POST") set(handle, CURLOPT_CUSTOMREQUEST, method.c_str(), request);
  }

  if (!request.username.empty() || !request.password.empty()) {
    set(handle, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC), request);
    set(handle, CURLOPT_USERNAME, request.username.c_str(), request);
    set(handle, CURLOPT_PASSWORD, request.password.c_str(), request);
  }

  Slist header_list;
  for (const auto& [name, value] : request.headers.entries())
    append_header(header_list, value.empty() ? name + ";" : name + ": " + value);
  if (!request.bearer_token.empty() && !request.headers.contains("Authorization"))
    append_header(header_list, "Authorization: Bearer " + request.bearer_token);
  if (sends_body) {
    // No "Expect: 100-continue" round trip, and no form-urlencoded content type we did not ask for.
    if (!request.headers.contains("Expect")) append_header(header_list, "Expect:");
    if (!request.headers.contains("Content-Type")) append_header(header_list, "Content-Type:");
  }
  if (header_list) set(handle, CURLOPT_HTTPHEADER, header_list.get(), request);

  // CURLINFO_OS_ERRNO is only ever set (by a failed connect or socket call), never cleared:
  // neither a later transfer nor curl_easy_reset resets it. On this thread's reused handle it
  // may still describe an earlier request, so remember what it said before this one.
  long errno_before = 0;
  if (curl_easy_getinfo(handle, CURLINFO_OS_ERRNO, &errno_before) != CURLE_OK) errno_before = 0;

  const CURLcode rc = curl_easy_perform(handle);
  // The handle outlives this call: it must not keep pointers into our stack frame.
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, nullptr);

  if (rc != CURLE_OK) {
    std::string detail =
        error_buffer[0] != '\0' ? std::string(error_buffer) : curl_easy_strerror(rc);
    if (state.too_large)
      detail = "response body larger than " + std::to_string(request.max_response_bytes) + " bytes";
    // The OS reason belongs to this request when the value changed during it, or when the
    // connect failed (which always sets it, possibly to the same value as before). Otherwise
    // it is left over: a timeout after a refused request must not read "[Connection refused]".
    long os_errno = 0;
    if (curl_easy_getinfo(handle, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno != 0 &&
        (os_errno != errno_before || rc == CURLE_COULDNT_CONNECT)) {
      const std::string reason = describe_errno(static_cast<int>(os_errno));
      if (detail.find(reason) == std::string::npos) detail += " [" + reason + "]";
    }
    throw HttpTransportError(classify(rc, state.too_large),
                             "HTTP " + method + " " + redact_url(request.url) +
                                 " failed: " + scrub_secrets(std::move(detail), request) +
                                 " (curl error " + std::to_string(static_cast<int>(rc)) + ")");
  }

  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
  char* effective_url = nullptr;
  if (curl_easy_getinfo(handle, CURLINFO_EFFECTIVE_URL, &effective_url) == CURLE_OK &&
      effective_url != nullptr)
    response.effective_url = effective_url;
  return response;
}

namespace {

std::string redact_url_once(std::string_view raw_url) {
  // The user-info goes first, without parsing, so malformed URLs lose it too.
  std::string without_userinfo;
  const std::string_view url =
      Scrubber::redact_url_userinfo(raw_url, without_userinfo) ? without_userinfo : raw_url;
  std::string out;
  out.reserve(url.size() + 16);

  std::size_t authority_start = 0;
  if (std::size_t scheme_end = url.find("://");
      scheme_end != std::string_view::npos && is_scheme(url.substr(0, scheme_end)))
    authority_start = scheme_end + 3;
  std::size_t authority_end = url.find_first_of("/?#", authority_start);
  if (authority_end == std::string_view::npos) authority_end = url.size();

  out.append(url.substr(0, authority_start));
  std::string_view authority = url.substr(authority_start, authority_end - authority_start);
  if (std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    out.append(kFiltered);
    out.append(authority.substr(at));
  } else {
    out.append(authority);
  }

  std::size_t path_end = url.find_first_of("?#", authority_end);
  if (path_end == std::string_view::npos) path_end = url.size();
  append_redacted_path(out, url.substr(authority_end, path_end - authority_end));

  std::size_t pos = path_end;
  if (pos < url.size() && url[pos] == '?') {
    std::size_t query_end = url.find('#', pos);
    if (query_end == std::string_view::npos) query_end = url.size();
    out.push_back('?');
    append_redacted_params(out, url.substr(pos + 1, query_end - pos - 1));
    pos = query_end;
  }
  if (pos < url.size()) {  // fragment: OAuth-style flows put tokens there too
    out.push_back('#');
    append_redacted_params(out, url.substr(pos + 1));
  }
  return out;
}

}  // namespace

std::string redact_url(std::string_view url) {
  // The two steps of a pass see different boundaries (the scan stops at whitespace, quotes and
  // control characters, the authority at '/'), so removing a user-info can expose another one
  // to the next pass. Repeat until nothing changes, so redacting the result again changes
  // nothing. Real URLs settle in one or two passes; text with many '@' and separators takes
  // more (each changing pass removes text before an '@'), and the bound is only a safety net.
  std::string out = redact_url_once(url);
  for (std::size_t pass = 0; pass <= url.size(); ++pass) {
    std::string next = redact_url_once(out);
    if (next == out) break;
    out = std::move(next);
  }
  return out;
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0x0F]);
    }
  }
  return out;
}

std::string percent_decode(std::string_view text) {
  auto hex_value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

}  // namespace monitoring::common
