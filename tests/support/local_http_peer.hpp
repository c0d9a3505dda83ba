#pragma once

// A tiny HTTP/1.1 peer on 127.0.0.1:<ephemeral> for client tests: plain POSIX sockets, one
// thread per connection, canned answers, and a record of every request it received.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace monitoring::testing {

/// One request as the peer parsed it.
struct RecordedRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  int connection = 0;  // 1-based number of the TCP connection it arrived on

  std::string header(std::string_view name) const {
    for (const auto& [key, value] : headers)
      if (key == name) return value;
    return {};
  }
  bool has_header(std::string_view name) const {
    for (const auto& entry : headers)
      if (entry.first == name) return true;
    return false;
  }
};

/// Raw bytes to send back, or silence (accept, read, never answer) to provoke timeouts.
struct CannedAnswer {
  std::string raw;
  bool silent = false;
};

/// An answer with a Content-Length, keep-alive unless `close` is set.
inline std::string http_answer(int status, std::string_view reason, std::string_view body,
                               std::vector<std::pair<std::string, std::string>> headers = {},
                               bool close = false) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  out.append(body);
  return out;
}

class LocalHttpPeer {
 public:
  using Handler = std::function<CannedAnswer(const RecordedRequest&)>;

  explicit LocalHttpPeer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof(address);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("bind/listen: " + std::string(std::strerror(errno)));
    }
    port_ = ntohs(address.sin_port);
    if (::pipe2(wake_, O_CLOEXEC) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("pipe: " + std::string(std::strerror(errno)));
    }
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~LocalHttpPeer() {
    char byte = 0;
    // Closing the write end is not enough for poll() on all platforms; write a byte too.
    [[maybe_unused]] ssize_t ignored = ::write(wake_[1], &byte, 1);
    acceptor_.join();
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(mutex_);
      workers.swap(workers_);
    }
    for (auto& worker : workers) worker.join();
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

  LocalHttpPeer(const LocalHttpPeer&) = delete;
  LocalHttpPeer& operator=(const LocalHttpPeer&) = delete;

  int port() const noexcept { return port_; }
  std::string url(std::string_view path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }

  std::vector<RecordedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  int connections() const noexcept { return connections_.load(); }

 private:
  // Waits until `fd` is readable or the peer is stopping; false when stopping.
  bool wait_readable(int fd) const {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    while (true) {
      int rc = ::poll(fds, 2, -1);
      if (rc < 0 && errno == EINTR) continue;
      if (rc < 0 || (fds[1].revents & POLLIN)) return false;
      if (fds[0].revents != 0) return true;
    }
  }

  void accept_loop() {
    while (wait_readable(listen_fd_)) {
      int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      const int number = ++connections_;
      std::lock_guard lock(mutex_);
      workers_.emplace_back([this, client, number] {
        serve(client, number);
        ::close(client);
      });
    }
  }

  // Reads requests from one connection until the client closes it or asks to close.
  void serve(int fd, int number) {
    std::string buffer;
    while (true) {
      std::size_t header_end;
      while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos)
        if (!read_more(fd, buffer)) return;

      RecordedRequest request;
      request.connection = number;
      std::string_view head(buffer.data(), header_end);
      std::size_t line_end = head.find("\r\n");
      std::string_view request_line = head.substr(0, line_end);
      std::size_t space1 = request_line.find(' ');
      std::size_t space2 = request_line.find(' ', space1 + 1);
      request.method = std::string(request_line.substr(0, space1));
      request.target = std::string(request_line.substr(space1 + 1, space2 - space1 - 1));
      std::size_t content_length = 0;
      bool close_after = false;
      while (line_end != std::string_view::npos && line_end < head.size()) {
        std::size_t next = head.find("\r\n", line_end + 2);
        std::string_view line =
            head.substr(line_end + 2, next == std::string_view::npos ? std::string_view::npos
                                                                     : next - line_end - 2);
        line_end = next;
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string name(line.substr(0, colon));
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (name == "content-length") content_length = std::stoul(std::string(value));
        if (name == "connection" && value == "close") close_after = true;
        request.headers.emplace_back(std::move(name), std::string(value));
      }
      buffer.erase(0, header_end + 4);
      while (buffer.size() < content_length)
        if (!read_more(fd, buffer)) return;
      request.body = buffer.substr(0, content_length);
      buffer.erase(0, content_length);

      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
      }
      CannedAnswer answer = handler_(request);
      if (answer.silent) {
        // Hold the connection open without a byte until the peer stops.
        pollfd fds[1] = {{wake_[0], POLLIN, 0}};
        while (::poll(fds, 1, -1) < 0 && errno == EINTR) {
        }
        return;
      }
      if (!write_all(fd, answer.raw)) return;
      if (close_after || answer.raw.find("Connection: close\r\n") != std::string::npos) return;
    }
  }

  bool read_more(int fd, std::string& buffer) const {
    if (!wait_readable(fd)) return false;
    char chunk[16384];
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  static bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  Handler handler_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::vector<RecordedRequest> requests_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

/// A loopback port with nothing listening on it (bound, then released).
inline int closed_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace monitoring::testing
