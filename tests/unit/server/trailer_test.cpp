// Found by fuzz/http_request: fields in a chunked body's trailer were added to the request's
// header fields after the header checks ran (a second Host passed, handlers saw them).

#include <gtest/gtest.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <cstring>
#include <string_view>

#include "server/connection.hpp"

namespace {

using namespace monitoring::server::detail;

TEST(RequestParserTrailers, TrailerFieldsAreNotHeaderFields) {
  RequestData data;
  data.body_limit = 1024;
  RequestParser parser(data);
  parser.eager(true);
  const std::string_view request =
      "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\nHost: evil\r\nX-Trailer: 1\r\n\r\n";
  boost::beast::flat_buffer buffer;
  auto target = buffer.prepare(request.size());
  std::memcpy(target.data(), request.data(), request.size());
  buffer.commit(request.size());
  unsigned status = 0;
  ASSERT_EQ(parse_buffered(parser, data, buffer, 8192, status), ParseResult::kComplete) << status;
  EXPECT_EQ(data.body, "hello");
  EXPECT_EQ(data.host_fields, 1);
  ASSERT_EQ(data.fields.size(), 2u);
  EXPECT_EQ(data.view(data.fields[0].name), "Host");
  EXPECT_EQ(data.view(data.fields[0].value), "a");
  EXPECT_EQ(data.view(data.fields[1].name), "Transfer-Encoding");
}

}  // namespace
