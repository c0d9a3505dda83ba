#include "server/connection.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <cstring>
#include <string_view>

#include "core/ascii.hpp"

namespace monitoring::server::detail {

namespace {

namespace beast = boost::beast;

// Bodies up to this size are copied behind the head so the response leaves in one send.
constexpr std::size_t kCoalesceLimit = 2048;
// Read at least this much per receive call.
constexpr std::size_t kReadChunk = 4096;
// Pipelined requests answered in a row before yielding to the other connections.
constexpr int kPipelineBudget = 32;
// A lingering close waits at most this long for the peer to close.
constexpr std::int64_t kLingerNs = 2'000'000'000;

Response plain(unsigned status, std::string_view body) {
  Response response;
  response.status = status;
  response.body = body;
  return response;
}

bool is_framing_header(std::string_view name) noexcept {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
         iequals(name, "connection") || iequals(name, "keep-alive") || iequals(name, "date") ||
         iequals(name, "content-type");
}

bool is_sendable(const Response& response) noexcept {
  if (response.status < 200 || response.status > 999) return false;
  if (!is_safe_field_value(response.content_type)) return false;
  for (const auto& [name, value] : response.headers)
    if (!is_token(name) || !is_safe_field_value(value)) return false;
  return true;
}

/// Shared by the copies of one Responder.
struct ResponderState {
  std::atomic<bool> used{false};
  std::weak_ptr<Connection> connection;
  std::uint64_t sequence = 0;
  Worker* worker = nullptr;  // only compared with Worker::current(), never dereferenced here
  std::shared_ptr<Mailbox> mailbox;
};

void deliver(const std::shared_ptr<ResponderState>& state, Response&& response) {
  if (state->used.exchange(true, std::memory_order_acq_rel)) return;
  if (Worker::current() == state->worker) {
    // Answered from inside the handler call: send it when the handler returns, no hop.
    if (auto connection = state->connection.lock();
        connection && connection->in_handler_for(state->sequence)) {
      connection->set_inline_response(std::move(response));
      return;
    }
  }
  std::lock_guard lock(state->mailbox->mutex);
  if (state->mailbox->io == nullptr) return;  // server stopped
  asio::post(*state->mailbox->io, [weak = state->connection, sequence = state->sequence,
                                   answer = std::move(response)]() mutable {
    if (auto connection = weak.lock()) connection->complete_async(sequence, std::move(answer));
  });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// RequestData / RequestParser

void RequestData::clear() noexcept {
  text.clear();
  method = {};
  target = {};
  fields.clear();
  body.clear();
  version = 11;
  host_fields = 0;
  expect_continue = false;
  transfer_encoding.clear();
  has_transfer_encoding = false;
  has_content_length = false;
  framing_status = 0;
}

RequestData::Span RequestData::store(std::string_view piece) {
  const Span span{static_cast<std::uint32_t>(text.size()),
                  static_cast<std::uint32_t>(piece.size())};
  text.append(piece);
  return span;
}

namespace {

// Request smuggling lives in framing disagreements between hops, so only the one framing no
// intermediary can read differently passes: a single `chunked` coding, without Content-Length,
// in HTTP/1.1 (RFC 9112 §6.1, §6.3). Anything else is refused and the connection closed:
// 501 for a coding this server does not implement, 400 for faulty framing.
unsigned transfer_coding_status(const RequestData& data) {
  if (data.version == 10 || data.has_content_length) return 400;
  int chunked = 0;
  int codings = 0;
  bool unknown = false;
  std::string_view rest = data.transfer_encoding;
  while (true) {
    const std::size_t comma = rest.find(',');
    std::string_view element = rest.substr(0, comma);
    element = core::trim(element.substr(0, element.find(';')));
    if (!element.empty()) {
      ++codings;
      if (core::iequals(element, "chunked"))
        ++chunked;
      else
        unknown = true;
    }
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (codings == 0 || chunked > 1) return 400;
  if (unknown) return 501;
  return 0;
}

}  // namespace

void RequestParser::on_request_impl(http::verb, beast::string_view method,
                                    beast::string_view target, int version, beast::error_code& ec) {
  data_.method = data_.store({method.data(), method.size()});
  data_.target = data_.store({target.data(), target.size()});
  data_.version = version;
  if (version != 10 && version != 11)
    ec = http::error::bad_version;  // Beast checks too; be explicit
}

void RequestParser::on_field_impl(http::field name, beast::string_view name_string,
                                  beast::string_view value, beast::error_code&) {
  // Trailer fields (after a chunked body) are dropped, as RFC 9110 §6.5.2 allows: merged into
  // the header they would arrive after its checks (a second Host) and reach handlers as if
  // they were header fields.
  if (is_header_done()) return;
  if (name == http::field::host) ++data_.host_fields;
  if (name == http::field::expect && iequals({value.data(), value.size()}, "100-continue"))
    data_.expect_continue = true;
  if (name == http::field::transfer_encoding) {
    if (data_.has_transfer_encoding) data_.transfer_encoding += ',';
    data_.transfer_encoding.append(value.data(), value.size());
    data_.has_transfer_encoding = true;
  } else if (name == http::field::content_length) {
    data_.has_content_length = true;
  }
  RequestData::FieldSpans spans;
  spans.name = data_.store({name_string.data(), name_string.size()});
  spans.value = data_.store({value.data(), value.size()});
  data_.fields.push_back(spans);
}

void RequestParser::on_header_impl(beast::error_code& ec) {
  // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in 1.0.
  if (data_.host_fields > 1 || (data_.version == 11 && data_.host_fields == 0)) {
    ec = http::error::bad_value;
    return;
  }
  if (data_.has_transfer_encoding) {
    data_.framing_status = transfer_coding_status(data_);
    if (data_.framing_status != 0) ec = http::error::bad_transfer_encoding;
  }
}

void RequestParser::on_body_init_impl(boost::optional<std::uint64_t> const& content_length,
                                      beast::error_code& ec) {
  if (content_length) {
    if (*content_length > data_.body_limit) {
      ec = http::error::body_limit;
      return;
    }
    data_.body.reserve(static_cast<std::size_t>(*content_length));
  }
}

std::size_t RequestParser::on_body_impl(beast::string_view body, beast::error_code& ec) {
  return append_body(body, ec);
}

std::size_t RequestParser::on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                              beast::error_code& ec) {
  return append_body(body, ec);
}

std::size_t RequestParser::append_body(beast::string_view body, beast::error_code& ec) {
  if (data_.body.size() + body.size() > data_.body_limit) {
    ec = http::error::body_limit;
    return 0;
  }
  data_.body.append(body.data(), body.size());
  return body.size();
}

namespace {

// A well-formed "HTTP/x.y" other than 1.0/1.1 deserves 505; anything else is just malformed.
bool names_other_http_version(const beast::flat_buffer& buffer) {
  const auto data = buffer.data();
  const std::string_view received(static_cast<const char*>(data.data()), data.size());
  const std::string_view line = received.substr(0, received.find("\r\n"));
  const std::size_t space = line.rfind(' ');
  if (space == std::string_view::npos) return false;
  const std::string_view version = line.substr(space + 1);
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return version.size() == 8 && version.starts_with("HTTP/") && digit(version[5]) &&
         version[6] == '.' && digit(version[7]);
}

// RFC 9112 §3: a request-target longer than the server parses MUST get 414. The limit is on
// the whole head, so tell the two apart by the request line: not parsed yet, with a method, a
// space and no line end within the limit, it is a target too long; otherwise the header fields
// are (431).
unsigned head_too_large_status(const RequestData& data, const beast::flat_buffer& buffer,
                               std::size_t max_header_bytes) {
  if (data.method.size != 0) return 431;
  const auto bytes = buffer.data();
  const std::string_view received(static_cast<const char*>(bytes.data()), bytes.size());
  const std::string_view head = received.substr(0, max_header_bytes);
  const std::size_t space = head.find(' ');
  constexpr std::size_t kLongestMethod = 32;
  if (space != std::string_view::npos && space > 0 && space <= kLongestMethod &&
      head.find('\n') == std::string_view::npos)
    return 414;
  return 431;
}

}  // namespace

ParseResult parse_buffered(RequestParser& parser, const RequestData& data,
                           beast::flat_buffer& buffer, std::size_t max_header_bytes,
                           unsigned& error_status) {
  for (;;) {
    beast::error_code ec;
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == http::error::need_more) return ParseResult::kNeedMore;
    if (ec) {
      if (ec == http::error::header_limit)
        error_status = head_too_large_status(data, buffer, max_header_bytes);
      else if (ec == http::error::body_limit)
        error_status = 413;
      else if (data.framing_status != 0)
        error_status = data.framing_status;
      else if (ec == http::error::bad_version && names_other_http_version(buffer))
        error_status = 505;
      else
        error_status = 400;
      return ParseResult::kError;
    }
    if (parser.is_done()) return ParseResult::kComplete;
    if (used == 0 || buffer.size() == 0) return ParseResult::kNeedMore;
  }
}

std::string_view error_body(unsigned status) noexcept {
  switch (status) {
    case 431:
      return "request header fields too large\n";
    case 413:
      return "content too large\n";
    case 414:
      return "uri too long\n";
    case 505:
      return "http version not supported\n";
    case 501:
      return "transfer coding not implemented\n";
    default:
      return "bad request\n";
  }
}

void format_head(std::string& out, const Response& response, std::size_t body_size,
                 std::string_view date_line, bool close, int request_version) {
  const unsigned status = response.status;
  out.clear();
  out.append("HTTP/1.1 ");
  append_decimal(out, status);
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\n");
  if (!response.content_type.empty() && status != 204) {
    out.append("Content-Type: ");
    out.append(response.content_type);
    out.append("\r\n");
  }
  if (status != 204 && status != 304) {
    out.append("Content-Length: ");
    append_decimal(out, body_size);
    out.append("\r\n");
  }
  out.append(date_line);
  if (close)
    out.append("Connection: close\r\n");
  else if (request_version == 10)
    out.append("Connection: keep-alive\r\n");
  for (const auto& [name, value] : response.headers) {
    if (is_framing_header(name)) continue;
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  }
  out.append("\r\n");
}

// ---------------------------------------------------------------------------------------------
// Connection

Connection::Connection(Worker& worker, tcp::socket socket, std::shared_ptr<Slot> slot)
    : worker_(worker),
      socket_(std::move(socket)),
      slot_(std::move(slot)),
      buffer_(worker.core().options.max_header_bytes + kReadChunk) {
  worker_.add(this);
}

Connection::~Connection() {
  worker_.remove(this);
  worker_.core().admission.release(*slot_);
  worker_.core().connection_closed();
}

void Connection::start() {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  // Non-blocking so a response can be written straight from the handler's stack.
  socket_.non_blocking(true, ec);
  remote_address_ = slot_->address;
  slot_->connection = weak_from_this();
  // Until now the connection counted as a request arriving. With nothing to read it is idle:
  // from here on it may be closed for room.
  const std::size_t waiting = socket_.available(ec);
  if ((ec || waiting == 0) && !slot_->enter(Slot::kIdle, Slot::precise_now())) {
    close();  // closed for room before it even started (possible only after the grace)
    return;
  }
  request_.body_limit = worker_.core().options.max_body_bytes;
  deadline_ =
      coarse_monotonic_ns() + worker_.core().read_timeout_ns;  // first request: no idle grace
  begin_request();
  read_more();
}

void Connection::begin_request() {
  request_.clear();
  parser_.emplace(request_);
  parser_->header_limit(static_cast<std::uint32_t>(worker_.core().options.max_header_bytes));
  parser_->body_limit(static_cast<std::uint64_t>(worker_.core().options.max_body_bytes));
  parser_->eager(true);
  request_started_ = false;
  continue_sent_ = false;
  state_ = State::kReading;
}

void Connection::process() {
  for (int budget = kPipelineBudget; budget > 0; --budget) {
    if (state_ != State::kReading) return;
    switch (parse()) {
      case ParseResult::kNeedMore:
        if (request_.expect_continue && !continue_sent_ && request_.version == 11 &&
            parser_->is_header_done())
          send_continue();
        read_more();
        return;
      case ParseResult::kError:
        return;
      case ParseResult::kComplete:
        dispatch();
        break;
    }
  }
  // A client pipelining without pause must not starve the other connections of this thread.
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->process(); });
}

ParseResult Connection::parse() {
  if (buffer_.size() == 0) return ParseResult::kNeedMore;
  if (!request_started_) {
    request_started_ = true;
    deadline_ = coarse_monotonic_ns() + worker_.core().read_timeout_ns;
    if (!slot_->enter(Slot::kPartial, Slot::precise_now())) {
      close();  // closed for room just before these bytes came
      return ParseResult::kError;
    }
  }
  unsigned status = 0;
  const ParseResult result =
      parse_buffered(*parser_, request_, buffer_, worker_.core().options.max_header_bytes, status);
  if (result == ParseResult::kError) respond_error(status);
  return result;
}

void Connection::send_continue() {
  // The client waits for this before sending its body (RFC 9110 §10.1.1). A tiny write on an
  // idle socket: done inline, and if the socket buffer were full the client just sends anyway.
  continue_sent_ = true;
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  boost::system::error_code ec;
  socket_.write_some(asio::buffer(kContinue.data(), kContinue.size()), ec);
}

void Connection::read_more() {
  const std::size_t room = buffer_.max_size() - buffer_.size();
  if (room == 0) {
    // Only a header (or chunk line) that outgrew the limits can fill the buffer.
    respond_error(
        parser_->is_header_done()
            ? 400
            : head_too_large_status(request_, buffer_, worker_.core().options.max_header_bytes));
    return;
  }
  const std::size_t want =
      std::min(room, std::max(kReadChunk, buffer_.capacity() - buffer_.size()));
  socket_.async_read_some(
      buffer_.prepare(want),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t bytes) {
        self->on_read(ec, bytes);
      });
}

void Connection::on_read(const boost::system::error_code& ec, std::size_t bytes) {
  if (state_ != State::kReading) return;  // closed meanwhile
  if (ec) {
    close();
    return;
  }
  buffer_.commit(bytes);
  process();
}

void Connection::dispatch() {
  if (!slot_->enter(Slot::kBusy, Slot::precise_now())) {
    close();  // stalled past the grace and closed for room while the last bytes came
    return;
  }
  ++sequence_;
  client_asked_close_ = !parser_->keep_alive();
  // A probe-reserve connection serves one probe: its place is wanted for the next one.
  close_after_response_ = client_asked_close_ || worker_.shutting_down() || slot_->reserve;
  response_version_ = request_.version;

  Request request;
  request.method = request_.view(request_.method);
  request.target = request_.view(request_.target);
  const TargetParts parts = split_target(request.target);
  request.path = parts.path;
  request.query = parts.query;
  request.body = request_.body;
  request.remote_address = remote_address_;
  request.version = static_cast<unsigned>(request_.version);
  header_views_.clear();
  for (const auto& field : request_.fields)
    header_views_.emplace_back(request_.view(field.name), request_.view(field.value));
  request.headers = header_views_;
  head_only_ = request.method == "HEAD";

  if (slot_->reserve && !worker_.core().is_probe(request.path)) {
    // Admitted beyond max_connections only for the probes.
    Counters::bump(worker_.counters().rejected);
    send(plain(503, "too many connections\n"));
    return;
  }
  const Route* route = worker_.routes().find(request.path);
  if (route == nullptr) {
    if (request.path == "*" && request.method == "OPTIONS") {
      send(plain(204, {}));
      return;
    }
    send(plain(404, "not found\n"));
    return;
  }
  if (!route->allows(request.method)) {
    Response response =
        request.method == "OPTIONS" ? plain(204, {}) : plain(405, "method not allowed\n");
    response.headers.emplace_back("Allow", route->allow);
    send(std::move(response));
    return;
  }
  if (route->async_handler) {
    run_async(*route, request);
    return;
  }
  Response response;
  try {
    response = route->handler(request);
  } catch (...) {
    response = plain(500, "internal server error\n");
  }
  send(std::move(response));
}

void Connection::run_async(const Route& route, const Request& request) {
  state_ = State::kAwaitingAsync;
  deadline_ = coarse_monotonic_ns() + worker_.core().write_timeout_ns;
  awaiting_self_ = shared_from_this();

  auto state = std::make_shared<ResponderState>();
  state->connection = weak_from_this();
  state->sequence = sequence_;
  state->worker = &worker_;
  state->mailbox = worker_.mailbox();

  in_async_handler_ = true;
  try {
    route.async_handler(request,
                        [state](Response response) { deliver(state, std::move(response)); });
  } catch (...) {
    if (!state->used.exchange(true, std::memory_order_acq_rel))
      inline_response_ = plain(500, "internal server error\n");
  }
  in_async_handler_ = false;

  if (inline_response_) {
    // Answered during the call: reply now; the process() loop below us carries on.
    const auto keep = std::move(awaiting_self_);
    Response response = std::move(*inline_response_);
    inline_response_.reset();
    send(std::move(response));
  }
}

void Connection::complete_async(std::uint64_t sequence, Response&& response) {
  if (state_ != State::kAwaitingAsync || sequence != sequence_)
    return;  // late: timed out or closed
  const auto keep = std::move(awaiting_self_);
  send(std::move(response));
  if (state_ == State::kReading) process();  // a pipelined request may be waiting
}

void Connection::respond_error(unsigned status) {
  if (!slot_->enter(Slot::kBusy, Slot::precise_now())) {
    close();
    return;
  }
  Counters::bump(worker_.counters().bad_requests);
  close_after_response_ = true;
  client_asked_close_ = false;
  head_only_ = false;
  response_version_ = 11;
  send(plain(status, error_body(status)));
}

void Connection::send(Response&& response) {
  if (!is_sendable(response)) response = plain(500, "invalid response from handler\n");
  Counters::bump(worker_.counters().requests);
  const unsigned status = response.status;
  const bool bodiless_status = status == 204 || status == 304;
  const std::size_t body_size = bodiless_status ? 0 : response.body.size();
  format_head(out_head_, response, body_size, worker_.date_line(), close_after_response_,
              response_version_);
  out_body_.clear();
  if (!head_only_ && body_size > 0) {
    if (body_size <= kCoalesceLimit)
      out_head_.append(response.body);
    else
      out_body_.swap(response.body);
  }
  write_out();
}

void Connection::write_out() {
  state_ = State::kWriting;
  written_ = 0;
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(out_head_), asio::buffer(out_body_)};
  const std::size_t total = out_head_.size() + out_body_.size();
  // Straight from this stack: usually the whole response fits in the socket buffer.
  boost::system::error_code ec;
  const std::size_t sent = socket_.write_some(buffers, ec);
  if (!ec && sent == total) {
    on_written();
    return;
  }
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
    close();
    return;
  }
  written_ = ec ? 0 : sent;
  Counters::bump(worker_.counters().async_writes);
  deadline_ = coarse_monotonic_ns() + worker_.core().write_timeout_ns;
  std::array<asio::const_buffer, 2> rest = buffers;
  if (written_ < out_head_.size()) {
    rest[0] += written_;
  } else {
    rest[0] = asio::const_buffer();
    rest[1] += written_ - out_head_.size();
  }
  asio::async_write(socket_, rest,
                    [self = shared_from_this()](const boost::system::error_code& error,
                                                std::size_t) { self->on_async_written(error); });
}

void Connection::on_async_written(const boost::system::error_code& ec) {
  if (state_ != State::kWriting) return;
  if (ec) {
    close();
    return;
  }
  on_written();
  process();
}

void Connection::on_written() {
  if (out_body_.capacity() > kCoalesceLimit * 8)
    std::string().swap(out_body_);  // keep big bodies off idle connections
  if (close_after_response_ || worker_.shutting_down()) {
    // A client that asked for the close (or a server that is stopping) gets a plain close when
    // nothing unread is left, so no reset can destroy the response. Otherwise (errors: the
    // client may still be sending) drain its input first.
    boost::system::error_code ec;
    const bool nothing_unread = buffer_.size() == 0 && socket_.available(ec) == 0 && !ec;
    if (nothing_unread && (client_asked_close_ || worker_.shutting_down())) {
      socket_.shutdown(tcp::socket::shutdown_send, ec);
      close();
      return;
    }
    linger();
    return;
  }
  if (!slot_->enter(Slot::kIdle, Slot::precise_now())) {
    close();
    return;
  }
  begin_request();
  if (buffer_.size() == 0) deadline_ = coarse_monotonic_ns() + worker_.core().keep_alive_timeout_ns;
}

void Connection::linger() {
  // Shut our side and drain the peer's until it closes: closing with unread input would
  // reset the connection and could destroy the response before the client reads it.
  state_ = State::kLingering;
  // The response is out: nothing is lost if this place is taken for a new connection.
  if (!slot_->enter(Slot::kIdle, Slot::precise_now())) {
    close();
    return;
  }
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) {
    close();
    return;
  }
  deadline_ = coarse_monotonic_ns() + std::min(kLingerNs, worker_.core().read_timeout_ns);
  buffer_.clear();
  socket_.async_read_some(
      buffer_.prepare(kReadChunk),
      [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
        self->on_linger_read(error);
      });
}

void Connection::on_linger_read(const boost::system::error_code& ec) {
  if (state_ != State::kLingering) return;
  if (ec) {
    close();
    return;
  }
  buffer_.clear();
  socket_.async_read_some(
      buffer_.prepare(kReadChunk),
      [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
        self->on_linger_read(error);
      });
}

void Connection::on_deadline() {
  switch (state_) {
    case State::kReading:
      if (request_started_)
        Counters::bump(worker_.counters().timeouts);  // idle keep-alive expiry is normal
      close();
      break;
    case State::kAwaitingAsync: {
      Counters::bump(worker_.counters().timeouts);
      const auto keep = std::move(awaiting_self_);
      close_after_response_ = true;
      send(plain(503, "handler did not answer in time\n"));
      break;
    }
    case State::kWriting:
      Counters::bump(worker_.counters().timeouts);
      close();
      break;
    case State::kLingering:
      close();
      break;
    case State::kClosed:
      break;
  }
}

void Connection::on_shutdown() {
  const bool idle = state_ == State::kReading && !request_started_ && buffer_.size() == 0;
  if (idle || state_ == State::kLingering) {
    close();  // nothing in flight: the response (if any) is already out
    return;
  }
  close_after_response_ = true;
}

void Connection::close() noexcept {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  boost::system::error_code ec;
  socket_.close(ec);  // pending operations complete with operation_aborted and release us
  const auto keep = std::move(awaiting_self_);
}

}  // namespace monitoring::server::detail
