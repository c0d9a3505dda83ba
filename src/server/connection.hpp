#pragma once

#include <array>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/server_core.hpp"

namespace monitoring::server::detail {

namespace http = boost::beast::http;

/// The request being received, copied out of the read buffer as the parser reports it (the
/// buffer may move while a body is still arriving). Capacities are kept across requests.
struct RequestData {
  struct Span {
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
  };
  struct FieldSpans {
    Span name;
    Span value;
  };

  std::string text;  // method, target, field names and values, back to back
  Span method;
  Span target;
  std::vector<FieldSpans> fields;
  std::string body;
  int version = 11;
  int host_fields = 0;
  bool expect_continue = false;
  std::size_t body_limit = 0;
  // Framing (RFC 9112 §6): every Transfer-Encoding value, comma-joined, and whether a
  // Content-Length came too; a rejected framing's status (400 or 501), else 0.
  std::string transfer_encoding;
  bool has_transfer_encoding = false;
  bool has_content_length = false;
  unsigned framing_status = 0;

  void clear() noexcept;
  Span store(std::string_view piece);
  std::string_view view(Span span) const noexcept { return {text.data() + span.offset, span.size}; }
};

/// Beast's HTTP/1.x request parser (syntax, framing, chunked decoding, limits) feeding a
/// RequestData instead of building a message object.
class RequestParser final : public http::basic_parser<true> {
 public:
  explicit RequestParser(RequestData& data) : data_(data) {}

 private:
  void on_request_impl(http::verb, boost::beast::string_view method,
                       boost::beast::string_view target, int version,
                       boost::beast::error_code& ec) override;
  void on_response_impl(int, boost::beast::string_view, int, boost::beast::error_code&) override {}
  void on_field_impl(http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code& ec) override;
  void on_body_init_impl(boost::optional<std::uint64_t> const& content_length,
                         boost::beast::error_code& ec) override;
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view,
                            boost::beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                 boost::beast::error_code& ec) override;
  void on_finish_impl(boost::beast::error_code&) override {}

  std::size_t append_body(boost::beast::string_view body, boost::beast::error_code& ec);

  RequestData& data_;
};

/// What parse_buffered found in the bytes received so far.
enum class ParseResult { kNeedMore, kComplete, kError };

/// Feeds the received bytes in `buffer` to `parser` (consuming what it used) until the request
/// in `data` is complete, more bytes are needed, or it is malformed; then `error_status` is
/// the status to answer: 414 (request target longer than `max_header_bytes`), 431 (header too
/// large), 413 (body too large), the framing's 400 or
/// 501, 505 (another HTTP version) or 400.
ParseResult parse_buffered(RequestParser& parser, const RequestData& data,
                           boost::beast::flat_buffer& buffer, std::size_t max_header_bytes,
                           unsigned& error_status);

/// The body of the error response for a parse_buffered error status.
std::string_view error_body(unsigned status) noexcept;

/// Writes the response head into `out`: status line, Content-Type, Content-Length (unless
/// 204/304), `date_line`, Connection (close, or keep-alive for HTTP/1.0) and the response's
/// own headers except the framing ones, then the empty line.
void format_head(std::string& out, const Response& response, std::size_t body_size,
                 std::string_view date_line, bool close, int request_version);

/// One client connection, owned by the shared_ptrs held by its pending operations (and, while
/// an async handler is working, by itself). Lives and dies on its worker's thread.
///
/// States: reading a request → (handler) → writing the response → reading the next one, or
/// lingering (send side shut, draining input until the peer closes) → closed. Every state has
/// a deadline that the worker's sweep enforces.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Worker& worker, tcp::socket socket, std::shared_ptr<Slot> slot);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start();
  std::int64_t deadline() const noexcept { return deadline_; }
  void on_deadline();
  void on_shutdown();
  void close() noexcept;

  /// An async handler's answer, on this worker's thread.
  void complete_async(std::uint64_t sequence, Response&& response);
  /// True while the async handler for `sequence` is still on the stack.
  bool in_handler_for(std::uint64_t sequence) const noexcept {
    return in_async_handler_ && sequence_ == sequence;
  }
  void set_inline_response(Response&& response) { inline_response_ = std::move(response); }

  std::size_t registry_index = 0;

 private:
  enum class State { kReading, kAwaitingAsync, kWriting, kLingering, kClosed };

  void begin_request();
  void process();
  ParseResult parse();
  void send_continue();
  void read_more();
  void on_read(const boost::system::error_code& ec, std::size_t bytes);
  void dispatch();
  void run_async(const struct Route& route, const Request& request);
  void respond_error(unsigned status);
  void send(Response&& response);
  void write_out();
  void on_async_written(const boost::system::error_code& ec);
  void on_written();
  void linger();
  void on_linger_read(const boost::system::error_code& ec);

  Worker& worker_;
  tcp::socket socket_;
  std::shared_ptr<Slot> slot_;  // admission state; released when the connection is gone
  State state_ = State::kReading;
  std::int64_t deadline_ = 0;
  boost::beast::flat_buffer buffer_;
  RequestData request_;
  std::optional<RequestParser> parser_;
  std::vector<std::pair<std::string_view, std::string_view>> header_views_;
  bool request_started_ = false;
  bool close_after_response_ = false;
  bool client_asked_close_ = false;
  bool continue_sent_ = false;
  bool head_only_ = false;
  int response_version_ = 11;

  std::uint64_t sequence_ = 0;
  bool in_async_handler_ = false;
  std::optional<Response> inline_response_;
  std::shared_ptr<Connection> awaiting_self_;  // keeps us alive while an async handler works

  std::string out_head_;
  std::string out_body_;
  std::size_t written_ = 0;
  std::string remote_address_;
};

}  // namespace monitoring::server::detail
