// Request smuggling: the server frames a request only when no other hop could frame it
// differently (a single `chunked` coding without Content-Length, in HTTP/1.1). Every other
// Transfer-Encoding form is refused and the connection closed, so a request hidden in a body
// is never answered.

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "monitoring/server/http_server.hpp"
#include "support/http_client.hpp"

namespace monitoring::server {
namespace {

using namespace std::chrono_literals;
using testing::Client;

Response reply(std::string body) {
  Response response;
  response.body = std::move(body);
  return response;
}

class FramingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<HttpServer>(options);
    server_->route("/submit",
                   [](const Request& request) { return reply(std::string(request.body)); },
                   {"POST"});
    server_->route("/metrics", [this](const Request&) {
      ++metrics_hits_;
      return reply("secret metrics\n");
    });
    server_->start();
  }
  void TearDown() override { server_->stop(); }

  std::atomic<int> metrics_hits_{0};
  std::unique_ptr<HttpServer> server_;  // declared last: stopped before the counter goes
};

// A POST whose body, framed by Content-Length, holds a whole second request.
std::string smuggling(const std::string& transfer_encoding, const std::string& version = "1.1") {
  const std::string hidden = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
  return "POST /submit HTTP/" + version + "\r\nHost: t\r\nTransfer-Encoding: " + transfer_encoding +
         "\r\nContent-Length: " + std::to_string(hidden.size()) + "\r\n\r\n" + hidden;
}

TEST_F(FramingTest, TransferEncodingWithContentLengthIsRefusedAndTheConnectionClosed) {
  for (const std::string coding :
       {"xchunked", "chunked, identity", "chunked, chunked", "gzip", "chunked", "identity"}) {
    SCOPED_TRACE(coding);
    Client client(server_->port());
    ASSERT_TRUE(client.send(smuggling(coding)));
    const auto response = client.read_response();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 400);
    EXPECT_EQ(response->header("connection").value_or(""), "close");
    EXPECT_TRUE(client.closed_within(2s));
  }
  EXPECT_EQ(metrics_hits_.load(), 0);
}

TEST_F(FramingTest, TransferCodingsOtherThanAFinalChunkedAreRefused) {
  const std::string hidden = "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n";
  for (const auto& [coding, status] :
       std::vector<std::pair<std::string, int>>{{"xchunked", 501},
                                                {"gzip", 501},
                                                {"gzip, chunked", 501},
                                                {"chunked, identity", 501},
                                                {"chunked, chunked", 400},
                                                {"chunked,chunked", 400},
                                                {" , ", 400}}) {
    SCOPED_TRACE(coding);
    Client client(server_->port());
    ASSERT_TRUE(client.send("POST /submit HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: " + coding +
                            "\r\n\r\n" + hidden));
    const auto response = client.read_response();
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, status);
    EXPECT_TRUE(client.closed_within(2s));
  }
  EXPECT_EQ(metrics_hits_.load(), 0);
}

TEST_F(FramingTest, TransferEncodingInHttp10IsFaultyFraming) {
  Client client(server_->port());
  ASSERT_TRUE(
      client.send("POST /submit HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: "
                  "chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
  const auto response = client.read_response();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 400);
  EXPECT_TRUE(client.closed_within(2s));
}

TEST_F(FramingTest, ASingleChunkedCodingStillFramesTheBody) {
  Client client(server_->port());
  ASSERT_TRUE(
      client.send("POST /submit HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked ; x=1"
                  "\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto first = client.read_response();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, "hello");
  const auto second = client.read_response();  // a pipelined request after the chunked body
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(metrics_hits_.load(), 1);
}

}  // namespace
}  // namespace monitoring::server
