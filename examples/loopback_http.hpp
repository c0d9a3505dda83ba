#pragma once

// A tiny blocking HTTP/1.1 client for the examples: one GET to a server on this machine over
// Boost.Asio (no TLS, no redirects, no chunked bodies). The examples use it to ask the
// monitoring server they started for its own endpoints; real programs use curl or Prometheus.

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace example {

struct HttpAnswer {
  int status = 0;
  std::string head;  ///< status line and header fields
  std::string body;

  /// The value of a response header (case-sensitive name match is enough for the examples).
  std::string header(std::string_view name) const {
    const std::string key = "\r\n" + std::string(name) + ": ";
    const std::size_t at = head.find(key);
    if (at == std::string::npos) return {};
    const std::size_t begin = at + key.size();
    return head.substr(begin, head.find("\r\n", begin) - begin);
  }
};

/// GET `target` from 127.0.0.1:`port` with extra request headers; throws on a transport error.
inline HttpAnswer http_get(std::uint16_t port, std::string_view target,
                           const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  namespace asio = boost::asio;
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});

  std::string request = "GET " + std::string(target) +
                        " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                        "\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  request += "\r\n";
  asio::write(socket, asio::buffer(request));

  std::string raw;
  boost::system::error_code error;
  asio::read(socket, asio::dynamic_buffer(raw), error);  // until the server closes: EOF
  if (error && error != asio::error::eof) throw boost::system::system_error(error);

  HttpAnswer answer;
  const std::size_t end_of_head = raw.find("\r\n\r\n");
  answer.head = raw.substr(0, end_of_head);
  if (end_of_head != std::string::npos) answer.body = raw.substr(end_of_head + 4);
  if (raw.size() > 12) answer.status = std::stoi(raw.substr(9, 3));  // "HTTP/1.1 200 OK"
  return answer;
}

}  // namespace example
