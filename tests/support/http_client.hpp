#pragma once

// A deliberately dumb blocking HTTP/1.1 client over POSIX sockets, so tests control every byte
// on the wire (partial requests, garbage, pipelining, keep-alive), observe closes, and see the
// server through exactly the bytes a scraper would send (no client library in between).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace monitoring::testing {

/// One parsed response.
struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names lower-cased
  std::string body;

  /// The first value of `lower_name`; nullopt when absent.
  std::optional<std::string> header(std::string_view lower_name) const {
    for (const auto& [name, value] : headers)
      if (name == lower_name) return value;
    return std::nullopt;
  }
  bool has_header(std::string_view lower_name) const { return header(lower_name).has_value(); }
};

namespace detail {

/// Parses a status line and header lines (without the blank line ending them); false when
/// `head` does not start with an HTTP status line.
inline bool parse_head(std::string_view head, HttpResponse& response) {
  std::size_t line_end = head.find("\r\n");
  const std::string_view status_line = head.substr(0, line_end);
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/") return false;
  response.status = std::stoi(std::string(status_line.substr(9, 3)));
  while (line_end != std::string_view::npos) {
    const std::size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string_view line = head.substr(
        start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value(line.substr(colon + 1));
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    response.headers.emplace_back(std::move(name), std::move(value));
  }
  return true;
}

}  // namespace detail

/// Connects to 127.0.0.1:port; -1 when the connection is refused.
inline int connect_loopback(std::uint16_t port, int receive_buffer = 0) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  // Before connect(), so the window the server sees is the small one.
  if (receive_buffer > 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/// One connection: raw bytes out, parsed responses (or raw bytes) back.
class Client {
 public:
  explicit Client(std::uint16_t port, int receive_buffer = 0)
      : fd_(connect_loopback(port, receive_buffer)) {
    if (fd_ < 0)
      throw std::runtime_error("connect to port " + std::to_string(port) +
                               " failed: " + std::strerror(errno));
  }
  ~Client() { close(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  /// False when the peer already closed (EPIPE/ECONNRESET).
  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Reads one response, framed by Content-Length (for a HEAD request pass head=true: no body
  /// follows). nullopt on EOF, reset, timeout or a malformed status line.
  std::optional<HttpResponse> read_response(
      bool head = false, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t head_end;
    while ((head_end = pending_.find("\r\n\r\n")) == std::string::npos)
      if (!fill(deadline)) return std::nullopt;
    HttpResponse response;
    const std::string head_text = pending_.substr(0, head_end);
    pending_.erase(0, head_end + 4);
    if (!detail::parse_head(head_text, response)) return std::nullopt;
    const bool bodiless = head || response.status == 204 || response.status == 304;
    const auto length_header = response.header("content-length");
    const std::size_t length =
        bodiless || !length_header ? 0 : static_cast<std::size_t>(std::stoull(*length_header));
    while (pending_.size() < length)
      if (!fill(deadline)) return std::nullopt;
    response.body = pending_.substr(0, length);
    pending_.erase(0, length);
    return response;
  }

  /// One request on this (kept-alive) connection, one response back.
  std::optional<HttpResponse> get(const std::string& path, const std::string& extra_headers = "") {
    if (!send("GET " + path + " HTTP/1.1\r\nHost: test\r\n" + extra_headers + "\r\n"))
      return std::nullopt;
    return read_response();
  }

  /// Everything until the server closes (EOF or reset), appended to pending(); false when
  /// the connection is still open at the deadline.
  bool read_until_closed(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd pfd{fd_, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;
      char scratch[65536];
      const ssize_t n = ::recv(fd_, scratch, sizeof scratch, 0);
      if (n == 0) return true;
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        return true;  // reset
      }
      pending_.append(scratch, static_cast<std::size_t>(n));
    }
  }
  /// True when the server closes within `timeout` (what arrives meanwhile goes to pending()).
  bool closed_within(std::chrono::milliseconds timeout) { return read_until_closed(timeout); }

  /// Everything received so far that no read_response consumed.
  const std::string& pending() const { return pending_; }
  int fd() const { return fd_; }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd pfd{fd_, POLLIN, 0};
      const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return false;
      char scratch[65536];
      const ssize_t n = ::recv(fd_, scratch, sizeof scratch, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return false;
      pending_.append(scratch, static_cast<std::size_t>(n));
      return true;
    }
  }

  int fd_ = -1;
  std::string pending_;
};

/// Sends `method path` with `extra_headers` ("Name: value\r\n" lines) and Connection: close,
/// reads until the server closes, and parses the answer. Throws when the connection is
/// refused, the answer is malformed, or its body disagrees with Content-Length.
inline HttpResponse raw_request(std::uint16_t port, const std::string& method,
                                const std::string& path, const std::string& extra_headers = {},
                                std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  Client client(port);
  if (!client.send(method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                   "\r\nConnection: close\r\n" + extra_headers + "\r\n"))
    throw std::runtime_error("send failed");
  if (!client.read_until_closed(timeout))
    throw std::runtime_error("timed out reading the response");
  const std::string& raw = client.pending();
  HttpResponse response;
  const std::size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.compare(0, 9, "HTTP/1.1 ") != 0 ||
      !detail::parse_head(std::string_view(raw).substr(0, head_end), response))
    throw std::runtime_error("malformed response: " + raw.substr(0, 200));
  response.body = raw.substr(head_end + 4);
  if (const auto length = response.header("content-length"); length && method != "HEAD") {
    const std::size_t expected = std::stoul(*length);
    if (response.body.size() != expected)
      throw std::runtime_error("body has " + std::to_string(response.body.size()) +
                               " bytes, Content-Length says " + *length);
  }
  return response;
}

inline HttpResponse raw_get(std::uint16_t port, const std::string& path,
                            const std::string& extra_headers = {}) {
  return raw_request(port, "GET", path, extra_headers);
}

}  // namespace monitoring::testing
