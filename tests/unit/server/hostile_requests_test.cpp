// Hostile bytes on the wire: a table of raw requests (malformed request lines, versions the
// server does not speak, oversized targets, broken header syntax, NUL and bare CR, smuggling
// framings, bad chunk sizes), each with the status it must get and whether the connection is
// closed after it; then a pipelining flood and dribbled requests. After all of it the server
// still answers /live and its memory stayed bounded. framing_test.cpp and the
// MalformedRequestTest cases in http_server_test.cpp cover the forms not repeated here.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "monitoring/server/http_server.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"

namespace monitoring::server {
namespace {

using namespace std::chrono_literals;
using testing::Client;
using testing::eventually;

Response text(std::string body) {
  Response response;
  response.body = std::move(body);
  return response;
}

/// Resident set size of this process (the server runs in it), from /proc/self/statm.
std::size_t resident_bytes() {
  std::FILE* file = std::fopen("/proc/self/statm", "r");
  if (file == nullptr) return 0;
  unsigned long size = 0;
  unsigned long resident = 0;
  const int read = std::fscanf(file, "%lu %lu", &size, &resident);
  std::fclose(file);
  if (read != 2) return 0;
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

struct HostileCase {
  const char* name;
  std::string bytes;
  int status;   // the answer expected
  bool closed;  // the connection is closed after it (otherwise it serves a next request)
};

std::string with_nul(std::string text, std::size_t at) {
  text.insert(at, 1, '\0');
  return text;
}

std::vector<HostileCase> hostile_cases() {
  const std::string long_target = "/" + std::string(9000, 'a');
  const std::string get_live = "GET /live HTTP/1.1\r\nHost: t\r\n";
  return {
      // Request line and version.
      {"HTTP/1.2 is a version this server does not speak", "GET /live HTTP/1.2\r\nHost: t\r\n\r\n",
       505, true},
      {"HTTP/3.0", "GET /live HTTP/3.0\r\nHost: t\r\n\r\n", 505, true},
      {"HTTP/0.9 simple request, one CRLF", "GET /live\r\n\r\n", 400, true},
      {"two-digit version", "GET /live HTTP/11.1\r\nHost: t\r\n\r\n", 400, true},
      {"lower-case protocol name", "GET /live http/1.1\r\nHost: t\r\n\r\n", 400, true},
      {"tab instead of space", "GET\t/live HTTP/1.1\r\nHost: t\r\n\r\n", 400, true},
      {"two spaces", "GET  /live HTTP/1.1\r\nHost: t\r\n\r\n", 400, true},
      {"leading garbage before the method", "\x01GET /live HTTP/1.1\r\nHost: t\r\n\r\n", 400, true},
      {"control character in the target", "GET /li\x7fve HTTP/1.1\r\nHost: t\r\n\r\n", 400, true},
      {"NUL in the target", with_nul("GET /live HTTP/1.1\r\nHost: t\r\n\r\n", 7), 400, true},
      {"oversized target is 414 (RFC 9112 §3)",
       "GET " + long_target + " HTTP/1.1\r\nHost: t\r\n\r\n", 414, true},
      // Header syntax.
      {"whitespace between field name and colon (RFC 9112 §5.1)",
       "GET /live HTTP/1.1\r\nHost : t\r\n\r\n", 400, true},
      {"obs-fold is unfolded into spaces (RFC 9112 §5.2)",
       "GET /xa HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 200, false},
      {"NUL in a field value", with_nul(get_live + "X-A: ab\r\n\r\n", get_live.size() + 6), 400,
       true},
      {"bare CR in a field value", get_live + "X-A: a\rb\r\n\r\n", 400, true},
      {"bare CR as a line end", "GET /live HTTP/1.1\rHost: t\r\n\r\n", 400, true},
      {"empty field name", get_live + ": value\r\n\r\n", 400, true},
      {"oversized header block", get_live + "X-A: " + std::string(9000, 'b') + "\r\n\r\n", 431,
       true},
      // Framing and smuggling.
      {"Content-Length with a sign",
       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +2\r\n\r\nab", 400, true},
      {"Content-Length list of different values",
       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2, 3\r\n\r\nabc", 400, true},
      {"Content-Length overflowing 64 bits",
       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400,
       true},
      {"Transfer-Encoding and Content-Length, CL first",
       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       400, true},
      {"Transfer-Encoding chunked on two lines",
       "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       400, true},
      {"Transfer-Encoding: chunked, identity",
       "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
       501, true},
      {"Transfer-Encoding: xchunked",
       "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501, true},
      {"chunk size negative",
       "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\na\r\n0\r\n\r\n",
       400, true},
      {"chunk size with 0x prefix",
       "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nab\r\n0\r\n\r\n",
       400, true},
      {"chunk size overflowing 64 bits",
       "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
       "10000000000000002\r\nab\r\n0\r\n\r\n",
       400, true},
      {"chunk size over the body limit",
       "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\nab", 413,
       true},
      {"chunk data longer than its size",
       "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n",
       400, true},
      // Accepted forms: answered, and the connection still frames the next request.
      {"chunked with an extension and a trailer",
       "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\nab\r\n0\r\n"
       "X-Trailer: 1\r\n\r\n",
       200, false},
      {"identical duplicate Content-Length",
       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 200,
       false},
  };
}

class HostileRequestsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.read_timeout = 500ms;
    server_ = std::make_unique<HttpServer>(options);
    server_->route("/live", [](const Request&) { return text("alive\n"); });
    server_->route("/echo", [](const Request& request) { return text(std::string(request.body)); },
                   {"POST"});
    server_->route("/xa", [](const Request& request) {
      return text("[" + std::string(request.header("X-A")) + "]");
    });
    server_->route("/n", [](const Request& request) { return text(std::string(request.query)); });
    server_->start();
  }
  void TearDown() override { server_->stop(); }
  std::uint16_t port() const { return server_->port(); }

  std::unique_ptr<HttpServer> server_;
};

TEST_F(HostileRequestsTest, TableOfRawRequestsThenTheServerStillAnswersWithBoundedMemory) {
  // Warm up (threads, buffers, the first connection) before the baseline.
  ASSERT_EQ(testing::raw_get(port(), "/live").status, 200);
  const std::size_t rss_before = resident_bytes();
  ASSERT_GT(rss_before, 0u);

  std::uint64_t errors_expected = 0;
  for (int round = 0; round < 20; ++round) {  // rounds: a leak per request would add up
    for (const auto& hostile : hostile_cases()) {
      SCOPED_TRACE(hostile.name);
      Client client(port());
      ASSERT_TRUE(client.send(hostile.bytes));
      const auto response = client.read_response();
      ASSERT_TRUE(response) << "no answer";
      EXPECT_EQ(response->status, hostile.status);
      if (hostile.status >= 400) ++errors_expected;
      if (hostile.closed) {
        EXPECT_EQ(response->header("connection").value_or(""), "close");
        EXPECT_TRUE(client.closed_within(5s));
      } else {
        const auto next = client.get("/live");
        ASSERT_TRUE(next) << "the connection lost its framing";
        EXPECT_EQ(next->body, "alive\n");
      }
    }
  }
  EXPECT_EQ(server_->stats().bad_requests, errors_expected);
  EXPECT_EQ(testing::raw_get(port(), "/live").status, 200);
  // The table moves about 2 MB through the server; 16 MiB of growth would mean it keeps what
  // it reads.
  const std::size_t rss_after = resident_bytes();
  EXPECT_LT(rss_after, rss_before + 16u * 1024 * 1024)
      << "RSS grew from " << rss_before << " to " << rss_after;
}

TEST_F(HostileRequestsTest, ObsFoldReachesTheHandlerWithoutLineBreaks) {
  Client client(port());
  ASSERT_TRUE(client.send("GET /xa HTTP/1.1\r\nHost: t\r\nX-A: a\r\n\tb\r\n c\r\n\r\n"));
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body.find_first_of("\r\n"), std::string::npos) << response->body;
  EXPECT_TRUE(response->body.starts_with("[a") && response->body.ends_with("c]")) << response->body;
}

TEST_F(HostileRequestsTest, HundredsOfPipelinedRequestsInOneWriteAreAllAnsweredInOrder) {
  constexpr int kRequests = 500;
  std::string batch;
  for (int i = 0; i < kRequests; ++i)
    batch += "GET /n?" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n";
  Client client(port());
  ASSERT_TRUE(client.send(batch));
  for (int i = 0; i < kRequests; ++i) {
    const auto response = client.read_response();
    ASSERT_TRUE(response) << "answer " << i;
    ASSERT_EQ(response->body, std::to_string(i));
  }
  // Still open and in step.
  const auto after = client.get("/live");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->body, "alive\n");
  EXPECT_EQ(server_->stats().requests, static_cast<std::uint64_t>(kRequests + 1));
}

TEST_F(HostileRequestsTest, DribbledBodyIsClosedAfterReadTimeoutWithoutAnAnswer) {
  Client slow(port());
  ASSERT_TRUE(slow.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n"));
  // One body byte now and then: each read resets no deadline; the whole request has one.
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    closed = !slow.send("x") || slow.closed_within(20ms);
  }
  EXPECT_TRUE(closed || slow.closed_within(5s));
  EXPECT_TRUE(slow.pending().empty());
  EXPECT_TRUE(eventually([&] { return server_->stats().timeouts >= 1; }));
  EXPECT_EQ(testing::raw_get(port(), "/live").status, 200);
}

}  // namespace
}  // namespace monitoring::server
