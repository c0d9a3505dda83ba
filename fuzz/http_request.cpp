// The monitoring server's request parsing (server::detail::parse_buffered with Beast's parser
// feeding RequestData, exactly as a Connection runs it) over raw bytes, delivered in reads of a
// fuzzed size and answered like the server does (format_head).
//
// Input: one byte choosing the read size (1..255 bytes, 0 = everything at once), then the
// bytes a client sends; pipelined requests are parsed one after another.
// Properties:
//   - a parsed request has a token method, a target without spaces or control characters,
//     HTTP/1.0 or 1.1, exactly one Host in 1.1 (at most one in 1.0), token field names and
//     values without CR, LF or NUL, a body within the limit and as long as its Content-Length,
//     and no Transfer-Encoding other than one "chunked" (parameters ignored) without
//     Content-Length, in 1.1;
//   - a refused request gets 400, 413, 431, 501 or 505 and a non-empty error body;
//   - every response head starts with a well-formed "HTTP/1.1 <3 digits> <reason>\r\n", has
//     "Name: value" lines with token names, a Content-Length equal to the body size, and ends
//     with an empty line.

#include <algorithm>
#include <boost/beast/core/flat_buffer.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "server/connection.hpp"
#include "server/http_format.hpp"

namespace {

namespace detail = monitoring::server::detail;

constexpr std::size_t kHeaderLimit = 2048;
constexpr std::size_t kBodyLimit = 1024;
constexpr std::size_t kReadChunk = 4096;
constexpr std::string_view kDateLine = "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";

bool has_control(std::string_view text) {
  for (char c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return false;
}

void check_request(const detail::RequestData& data) {
  auto view = [&](detail::RequestData::Span span) {
    fuzz::check(std::size_t{span.offset} + span.size <= data.text.size(), "a span is out of range");
    return data.view(span);
  };
  const std::string_view method = view(data.method);
  const std::string_view target = view(data.target);
  fuzz::check(detail::is_token(method), "the method is not a token", method);
  fuzz::check(!target.empty() && !has_control(target) && target.find(' ') == std::string_view::npos,
              "a bad request target", target);
  fuzz::check(data.version == 10 || data.version == 11, "a version other than 1.0 and 1.1");
  fuzz::check(data.host_fields <= 1 && (data.version == 10 || data.host_fields == 1),
              "the Host count does not fit the version");
  fuzz::check(data.body.size() <= kBodyLimit, "the body exceeds the limit");
  int content_lengths = 0;
  for (const auto& field : data.fields) {
    const std::string_view name = view(field.name);
    const std::string_view value = view(field.value);
    fuzz::check(detail::is_token(name), "a field name is not a token", name);
    fuzz::check(detail::is_safe_field_value(value), "a field value can split a message", value);
    if (!detail::iequals(name, "content-length")) continue;
    // Repeated Content-Length fields pass only with one value (RFC 9110 §8.6): each is the
    // body's length.
    ++content_lengths;
    const std::string_view digits = monitoring::core::trim(value);
    fuzz::check(!digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos,
                "an accepted Content-Length is not a number", value);
    fuzz::check(std::strtoull(std::string(digits).c_str(), nullptr, 10) == data.body.size(),
                "the body is not as long as its Content-Length", value);
  }
  if (data.has_transfer_encoding) {
    fuzz::check(data.version == 11 && !data.has_content_length && content_lengths == 0,
                "Transfer-Encoding accepted with Content-Length or in HTTP/1.0");
    int codings = 0;  // non-empty list elements; parameters are ignored
    for (std::string_view rest = data.transfer_encoding;;) {
      const std::size_t comma = rest.find(',');
      const std::string_view element = rest.substr(0, comma);
      const std::string_view coding = monitoring::core::trim(element.substr(0, element.find(';')));
      if (!coding.empty()) {
        ++codings;
        fuzz::check(detail::iequals(coding, "chunked"), "a coding other than chunked accepted",
                    data.transfer_encoding);
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    fuzz::check(codings == 1, "not exactly one chunked coding accepted", data.transfer_encoding);
  } else if (content_lengths == 0) {
    fuzz::check(data.body.empty(), "a body without framing");
  }
}

void check_head(std::string_view head, std::size_t body_size) {
  fuzz::check(head.starts_with("HTTP/1.1 ") && head.size() > 13, "no HTTP/1.1 status line", head);
  for (std::size_t i = 9; i < 12; ++i)
    fuzz::check(head[i] >= '0' && head[i] <= '9', "the status is not 3 digits", head);
  fuzz::check(head[12] == ' ', "no space after the status", head);
  fuzz::check(head.ends_with("\r\n\r\n"), "the head does not end with an empty line", head);
  std::size_t end = head.find("\r\n");
  const std::string_view reason = head.substr(13, end - 13);
  fuzz::check(!reason.empty() && !has_control(reason), "a bad reason phrase", head);
  bool length_seen = false;
  for (std::size_t start = end + 2; start + 2 < head.size(); start = end + 2) {
    end = head.find("\r\n", start);
    const std::string_view line = head.substr(start, end - start);
    const std::size_t colon = line.find(": ");
    fuzz::check(colon != std::string_view::npos && detail::is_token(line.substr(0, colon)) &&
                    !has_control(line.substr(colon + 2)),
                "a malformed header line", line);
    if (line.starts_with("Content-Length: ")) {
      length_seen = true;
      fuzz::check(line.substr(16) == std::to_string(body_size), "a wrong Content-Length", line);
    }
  }
  fuzz::check(length_seen, "no Content-Length", head);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = data[0] == 0 ? size : data[0];
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  detail::RequestData request;
  request.body_limit = kBodyLimit;
  std::optional<detail::RequestParser> parser;
  auto begin_request = [&] {
    request.clear();
    parser.emplace(request);
    parser->header_limit(static_cast<std::uint32_t>(kHeaderLimit));
    parser->body_limit(kBodyLimit);
    parser->eager(true);
  };
  begin_request();
  boost::beast::flat_buffer buffer(kHeaderLimit + kReadChunk);
  std::string head;
  std::size_t fed = 0;
  while (true) {
    unsigned status = 0;
    const detail::ParseResult result =
        buffer.size() == 0 ? detail::ParseResult::kNeedMore
                           : detail::parse_buffered(*parser, request, buffer, kHeaderLimit, status);
    if (result == detail::ParseResult::kComplete) {
      check_request(request);
      monitoring::server::Response response;
      response.body = "ok\n";
      detail::format_head(head, response, response.body.size(), kDateLine, !parser->keep_alive(),
                          request.version);
      check_head(head, response.body.size());
      begin_request();
      continue;
    }
    if (result == detail::ParseResult::kError) {
      fuzz::check(status == 400 || status == 413 || status == 431 || status == 501 || status == 505,
                  "an unexpected error status", std::to_string(status));
      monitoring::server::Response response;
      response.status = status;
      response.body = detail::error_body(status);
      fuzz::check(!response.body.empty(), "an empty error body");
      detail::format_head(head, response, response.body.size(), kDateLine, true, 11);
      check_head(head, response.body.size());
      return 0;
    }
    if (fed == input.size()) return 0;  // the client stopped sending mid-request
    const std::size_t room = buffer.max_size() - buffer.size();
    if (room == 0) return 0;  // the server answers 400/431 here (Connection::read_more)
    const std::size_t n = std::min({chunk, room, input.size() - fed});
    auto target = buffer.prepare(n);
    std::memcpy(target.data(), input.data() + fed, n);
    buffer.commit(n);
    fed += n;
  }
}
