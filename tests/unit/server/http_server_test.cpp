#include "monitoring/server/http_server.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "monitoring/error.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"

namespace monitoring::server {
namespace {

using namespace std::chrono_literals;
using testing::Client;
using testing::eventually;
using testing::HttpResponse;

HttpServerOptions local_options() {
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  return options;
}

Response text(std::string body, unsigned status = 200) {
  Response response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void start(HttpServerOptions options = local_options()) {
    server_ = std::make_unique<HttpServer>(std::move(options));
    server_->route("/hello", [](const Request&) { return text("hello world"); });
    configure(*server_);
    server_->start();
  }
  virtual void configure(HttpServer&) {}
  std::uint16_t port() const { return server_->port(); }

  // Handlers run on server threads: stop the server before the state they touch goes away
  // (also when an ASSERT ended the test early).
  void TearDown() override {
    if (server_) server_->stop();
    for (auto& thread : helpers_) thread.join();
  }

  std::mutex mutex_;
  std::vector<std::thread> helpers_;  // threads answering async requests later
  std::vector<Responder> kept_;       // responders deliberately left unanswered
  std::string big_;
  std::string seen_;
  std::unique_ptr<HttpServer> server_;  // declared last: destroyed first
};

// ---------------------------------------------------------------------------------------------
// Routing

TEST_F(HttpServerTest, ServesARouteWithLengthTypeAndDate) {
  start();
  Client client(port());
  const auto response = client.get("/hello");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hello world");
  EXPECT_EQ(response->header("content-length"), "11");
  EXPECT_EQ(response->header("content-type"), "text/plain; charset=utf-8");
  EXPECT_TRUE(response->header("date").value_or("").ends_with(" GMT"))
      << response->header("date").value_or("(none)");
  EXPECT_FALSE(response->has_header("connection"));  // HTTP/1.1 keep-alive is the default
}

TEST_F(HttpServerTest, HandlerSeesPathQueryHeadersAndPeer) {
  server_ = std::make_unique<HttpServer>(local_options());
  server_->route("/inspect", [&](const Request& request) {
    std::lock_guard lock(mutex_);
    seen_ = std::string(request.method) + "|" + std::string(request.target) + "|" +
            std::string(request.path) + "|" + std::string(request.query) + "|" +
            std::string(request.header("x-custom")) + "|" +
            std::string(request.header("X-MISSING")) + "|" + std::string(request.remote_address) +
            "|" + std::to_string(request.version) + "|" + std::to_string(request.headers.size());
    return text("ok");
  });
  server_->start();
  Client client(port());
  const auto response = client.get("/inspect?a=1&b=2", "X-Custom: value 1\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  std::lock_guard lock(mutex_);
  EXPECT_EQ(seen_, "GET|/inspect?a=1&b=2|/inspect|a=1&b=2|value 1||127.0.0.1|11|2");
}

TEST_F(HttpServerTest, UnknownPathIs404) {
  start();
  Client client(port());
  const auto response = client.get("/nope");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->header("content-length"), std::to_string(response->body.size()));
  // A near miss is still a miss: matching is exact.
  const auto prefix = client.get("/hello/");
  ASSERT_TRUE(prefix);
  EXPECT_EQ(prefix->status, 404);
}

TEST_F(HttpServerTest, SubtreeRouteServesPathsBelowItsPrefix) {
  start();
  server_->route("/items/*",
                 [](const Request& request) { return text("items " + std::string(request.path)); });
  server_->route("/items/a/*",
                 [](const Request& request) { return text("a " + std::string(request.path)); });
  server_->route("/items/exact", [](const Request&) { return text("exact"); });
  Client client(port());
  const auto one = client.get("/items/x?q=1");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  EXPECT_EQ(one->body, "items /items/x");
  const auto trailing = client.get("/items/");
  ASSERT_TRUE(trailing);
  EXPECT_EQ(trailing->body, "items /items/");
  const auto longest = client.get("/items/a/b/c");
  ASSERT_TRUE(longest);
  EXPECT_EQ(longest->body, "a /items/a/b/c");
  const auto exact = client.get("/items/exact");
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->body, "exact");
  // The prefix itself without its slash is not below it.
  const auto bare = client.get("/items");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->status, 404);
  const auto other = client.get("/itemsx/y");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
}

TEST_F(HttpServerTest, QueryStringIsIgnoredForRouting) {
  start();
  Client client(port());
  const auto response = client.get("/hello?x=1");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hello world");
}

TEST_F(HttpServerTest, AbsoluteFormTargetIsRoutedByItsPath) {
  start();
  Client client(port());
  ASSERT_TRUE(client.send("GET http://test/hello?q HTTP/1.1\r\nHost: test\r\n\r\n"));
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpServerTest, WrongMethodIs405WithAllow) {
  start();
  Client client(port());
  ASSERT_TRUE(client.send("POST /hello HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nabc"));
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->header("allow"), "GET, HEAD");
  // The connection stays usable.
  const auto next = client.get("/hello");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(HttpServerTest, HeadHasGetHeadersAndNoBody) {
  start();
  Client client(port());
  ASSERT_TRUE(client.send("HEAD /hello HTTP/1.1\r\nHost: test\r\n\r\n"));
  const auto head = client.read_response(/*head=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("content-length"), "11");
  EXPECT_EQ(head->header("content-type"), "text/plain; charset=utf-8");
  EXPECT_TRUE(client.pending().empty()) << "HEAD response carried body bytes: " << client.pending();
  // Had a body been sent, this GET's response would be misparsed.
  const auto get = client.get("/hello");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, "hello world");
}

TEST_F(HttpServerTest, OptionsIs204WithAllow) {
  start();
  Client client(port());
  ASSERT_TRUE(client.send("OPTIONS /hello HTTP/1.1\r\nHost: test\r\n\r\n"));
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 204);
  EXPECT_EQ(response->header("allow"), "GET, HEAD");
  EXPECT_FALSE(response->has_header("content-length"));
  const auto next = client.get("/hello");
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(HttpServerTest, CustomMethodsGetTheBody) {
  server_ = std::make_unique<HttpServer>(local_options());
  server_->route("/echo",
                 [](const Request& request) {
                   return text(std::string(request.method) + ":" + std::string(request.body));
                 },
                 {"POST", "PUT"});
  server_->start();
  Client client(port());
  ASSERT_TRUE(client.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"));
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "POST:hello");
  ASSERT_TRUE(
      client.send("PUT /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
                  "chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "PUT:abcde");
  response = client.get("/echo");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 405);
  EXPECT_EQ(response->header("allow"), "POST, PUT");
}

TEST_F(HttpServerTest, ExpectContinueGetsAnInterimResponse) {
  server_ = std::make_unique<HttpServer>(local_options());
  server_->route("/echo", [](const Request& request) { return text(std::string(request.body)); },
                 {"POST"});
  server_->start();
  Client client(port());
  ASSERT_TRUE(client.send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  const auto interim = client.read_response(false, 2s);
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.send("hello"));
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hello");
}

TEST_F(HttpServerTest, ExtraHeadersAndStatusAreSent) {
  server_ = std::make_unique<HttpServer>(local_options());
  server_->route("/custom", [](const Request&) {
    Response response;
    response.status = 503;
    response.content_type = "application/json";
    response.body = R"({"status":"down"})";
    response.headers = {{"Vary", "Accept-Encoding"}, {"X-Trace", "abc"}, {"Content-Length", "999"}};
    return response;
  });
  server_->start();
  Client client(port());
  const auto response = client.get("/custom");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->header("content-type"), "application/json");
  EXPECT_EQ(response->header("vary"), "Accept-Encoding");
  EXPECT_EQ(response->header("x-trace"), "abc");
  EXPECT_EQ(response->header("content-length"), "17");  // the handler's framing header is ignored
  EXPECT_EQ(response->body, R"({"status":"down"})");
}

TEST_F(HttpServerTest, NoContentResponsesCarryNoBody) {
  server_ = std::make_unique<HttpServer>(local_options());
  server_->route("/empty", [](const Request&) {
    Response response = text("dropped");
    response.status = 204;
    response.headers = {{"Date", "forged"}, {"X-Kept", "yes"}};
    return response;
  });
  server_->start();
  Client client(port());
  const auto response = client.get("/empty");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 204);
  EXPECT_FALSE(response->has_header("content-length"));
  EXPECT_TRUE(response->has_header("date"));
  EXPECT_NE(response->header("date"), "forged");
  EXPECT_EQ(response->header("x-kept"), "yes");
  EXPECT_TRUE(client.pending().empty());
  const auto next = client.get("/hello");  // not routed here: a 404, framed correctly
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 404);
}

TEST_F(HttpServerTest, HeaderInjectionFromAHandlerBecomes500) {
  server_ = std::make_unique<HttpServer>(local_options());
  server_->route("/inject", [](const Request&) {
    Response response = text("x");
    response.headers = {{"X-Evil", "a\r\nSet-Cookie: owned"}};
    return response;
  });
  server_->route("/badstatus", [](const Request&) { return text("x", 101); });
  server_->start();
  Client client(port());
  auto response = client.get("/inject");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  EXPECT_FALSE(response->has_header("set-cookie"));
  response = client.get("/badstatus");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
}

TEST_F(HttpServerTest, ThrowingHandlerIs500AndServerKeepsRunning) {
  server_ = std::make_unique<HttpServer>(local_options());
  server_->route("/throw", [](const Request&) -> Response { throw std::runtime_error("boom"); });
  server_->route("/ok", [](const Request&) { return text("fine"); });
  server_->start();
  Client client(port());
  auto response = client.get("/throw");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  response = client.get("/ok");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  Client other(port());
  response = other.get("/ok");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "fine");
}

TEST_F(HttpServerTest, RouteAddedAfterStartIsServedAndReplacesOldOne) {
  start();
  Client client(port());
  auto response = client.get("/late");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 404);
  server_->route("/late", [](const Request&) { return text("late"); });
  response = client.get("/late");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "late");
  server_->route("/late", [](const Request&) { return text("replaced"); });
  response = client.get("/late");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "replaced");
}

TEST(HttpServer, InvalidRoutesAreRejected) {
  HttpServer server(local_options());
  auto ok = [](const Request&) { return text("x"); };
  EXPECT_THROW(server.route("metrics", ok), Error);
  EXPECT_THROW(server.route("", ok), Error);
  EXPECT_THROW(server.route("/x", ok, {}), Error);
  EXPECT_THROW(server.route("/x", ok, {"G ET"}), Error);
  EXPECT_THROW(server.route("/x", Handler{}), Error);
  EXPECT_THROW(server.route_async("/x", AsyncHandler{}), Error);
}

// ---------------------------------------------------------------------------------------------
// Async handlers

TEST_F(HttpServerTest, AsyncHandlerAnsweredFromAnotherThread) {
  server_ = std::make_unique<HttpServer>(local_options());
  server_->route_async("/async", [&](const Request& request, Responder respond) {
    std::string query(request.query);  // copy: the request dies when we return
    std::lock_guard lock(mutex_);
    helpers_.emplace_back([respond, query] {
      // The delay is the point: the answer comes well after the handler returned.
      std::this_thread::sleep_for(20ms);
      respond(text("later:" + query));
      respond(text("second call is ignored"));
    });
  });
  server_->start();
  Client client(port());
  auto response = client.get("/async?n=1");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "later:n=1");
  // Keep-alive continues after an async answer, HEAD included.
  ASSERT_TRUE(client.send("HEAD /async?n=2 HTTP/1.1\r\nHost: t\r\n\r\n"));
  response = client.read_response(true);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->header("content-length"), "9");
  response = client.get("/async?n=3");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "later:n=3");
}

TEST_F(HttpServerTest, AsyncHandlerAnsweringInline) {
  server_ = std::make_unique<HttpServer>(local_options());
  server_->route_async("/inline", [](const Request& request, Responder respond) {
    respond(text("inline " + std::string(request.path)));
  });
  server_->start();
  Client client(port());
  for (int i = 0; i < 3; ++i) {
    const auto response = client.get("/inline");
    ASSERT_TRUE(response);
    EXPECT_EQ(response->body, "inline /inline");
  }
}

TEST_F(HttpServerTest, AsyncHandlerThrowingIs500) {
  server_ = std::make_unique<HttpServer>(local_options());
  server_->route_async("/throw",
                       [](const Request&, Responder) { throw std::runtime_error("boom"); });
  server_->route_async("/answer-then-throw", [](const Request&, Responder respond) {
    respond(text("answered"));
    throw std::runtime_error("after the answer");
  });
  server_->start();
  Client client(port());
  auto response = client.get("/throw");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 500);
  response = client.get("/answer-then-throw");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "answered");
}

TEST_F(HttpServerTest, AsyncHandlerThatNeverAnswersTimesOutAndLateAnswerIsIgnored) {
  auto options = local_options();
  options.write_timeout = 300ms;
  server_ = std::make_unique<HttpServer>(options);
  server_->route_async("/never", [&](const Request&, Responder respond) {
    std::lock_guard lock(mutex_);
    kept_.push_back(std::move(respond));
  });
  server_->route("/hello", [](const Request&) { return text("hi"); });
  server_->start();
  Client stuck(port());
  ASSERT_TRUE(stuck.send("GET /never HTTP/1.1\r\nHost: t\r\n\r\n"));
  // Meanwhile others are served.
  Client other(port());
  const auto quick = other.get("/hello");
  ASSERT_TRUE(quick);
  EXPECT_EQ(quick->status, 200);

  const auto response = stuck.read_response(false, 5s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(stuck.closed_within(5s));
  EXPECT_GE(server_->stats().timeouts, 1u);

  // The answer arrives after the connection is gone: nothing happens.
  {
    std::lock_guard lock(mutex_);
    ASSERT_EQ(kept_.size(), 1u);
    kept_[0](text("too late"));
  }
  const auto still = other.get("/hello");
  ASSERT_TRUE(still);
  EXPECT_EQ(still->status, 200);
}

TEST(HttpServer, ResponderCalledAfterServerDestructionDoesNothing) {
  std::promise<Responder> captured;
  Responder responder;
  {
    HttpServer server(local_options());
    server.route_async("/keep", [&](const Request&, Responder respond) {
      captured.set_value(std::move(respond));
    });
    server.start();
    Client client(server.port());
    ASSERT_TRUE(client.send("GET /keep HTTP/1.1\r\nHost: t\r\n\r\n"));
    responder = captured.get_future().get();
    server.stop(50ms);
    EXPECT_TRUE(client.closed_within(2s));
  }
  responder(text("nobody listens"));  // must not crash or touch freed memory
}

// ---------------------------------------------------------------------------------------------
// Malformed and oversized requests

class MalformedRequestTest : public HttpServerTest,
                             public ::testing::WithParamInterface<std::pair<std::string, int>> {};

TEST_P(MalformedRequestTest, AnsweredWithErrorAndClosedWhileOthersAreServed) {
  start();
  Client bad(port());
  ASSERT_TRUE(bad.send(GetParam().first));
  Client good(port());
  const auto served = good.get("/hello");
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200);

  const auto response = bad.read_response();
  ASSERT_TRUE(response) << "no response to " << GetParam().first;
  EXPECT_EQ(response->status, GetParam().second);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(bad.closed_within(5s));
  EXPECT_GE(server_->stats().bad_requests, 1u);
}

// A TLS ClientHello start (embedded NULs included) sent to the plain-HTTP port.
constexpr char kTlsHello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n";

INSTANTIATE_TEST_SUITE_P(
    HttpServer, MalformedRequestTest,
    ::testing::Values(
        std::pair<std::string, int>{std::string(kTlsHello, sizeof kTlsHello - 1), 400},
        std::pair<std::string, int>{"GET\r\n\r\n", 400},
        std::pair<std::string, int>{"GET /hello\r\nHost: t\r\n\r\n", 400},
        std::pair<std::string, int>{"GET /hello HTTP/1.1 extra\r\nHost: t\r\n\r\n", 400},
        std::pair<std::string, int>{"GET /hello HTTP/1.1\r\nBad Header: x\r\n\r\n", 400},
        std::pair<std::string, int>{"GET /hello HTTP/1.1\r\nNoColon\r\n\r\n", 400},
        std::pair<std::string, int>{"GET /hello HTTP/1.1\r\n\r\n", 400},  // no Host
        std::pair<std::string, int>{"GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        std::pair<std::string, int>{"GET /hello HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
                                    400},
        std::pair<std::string, int>{
            "GET /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            400},
        std::pair<std::string, int>{"POST /hello HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                                    "chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
                                    400},
        std::pair<std::string, int>{"POST /hello HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                                    "chunked\r\n\r\n3\r\nabcXX0\r\n\r\n",
                                    400},
        std::pair<std::string, int>{"GET /hello HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        std::pair<std::string, int>{
            "POST /hello HTTP/1.1\r\nHost: a\r\nContent-Length: 70000\r\n\r\n", 413}));

TEST_F(HttpServerTest, OversizedHeaderIs431) {
  auto options = local_options();
  options.max_header_bytes = 1024;
  start(options);
  Client client(port());
  ASSERT_TRUE(client.send("GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(4000, 'a') +
                          "\r\n\r\n"));
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_TRUE(client.closed_within(5s));
  // Just under the limit is fine.
  Client fits(port());
  const auto ok = fits.get("/hello", "X-Big: " + std::string(900, 'a') + "\r\n");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(HttpServerTest, HeaderThatNeverEndsIs431) {
  auto options = local_options();
  options.max_header_bytes = 2048;
  start(options);
  Client client(port());
  // No blank line ever: the server must not buffer without bound.
  std::string endless = "GET /hello HTTP/1.1\r\nHost: t\r\n";
  for (int i = 0; i < 200; ++i) endless += "X-Field-" + std::to_string(i) + ": value\r\n";
  client.send(endless);
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_TRUE(client.closed_within(5s));
}

TEST_F(HttpServerTest, OversizedChunkedBodyIs413) {
  auto options = local_options();
  options.max_body_bytes = 1000;
  server_ = std::make_unique<HttpServer>(options);
  server_->route("/upload",
                 [](const Request& request) { return text(std::to_string(request.body.size())); },
                 {"POST"});
  server_->start();
  Client client(port());
  std::string request = "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 5; ++i) request += "12c\r\n" + std::string(300, 'b') + "\r\n";
  request += "0\r\n\r\n";
  client.send(request);
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_TRUE(client.closed_within(5s));
  // At the limit is accepted.
  Client fits(port());
  ASSERT_TRUE(fits.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" +
                        std::string(1000, 'c')));
  const auto ok = fits.read_response();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->body, "1000");
}

// ---------------------------------------------------------------------------------------------
// Protocol versions, keep-alive, pipelining

TEST_F(HttpServerTest, Http10ClosesByDefault) {
  start();
  Client client(port());
  ASSERT_TRUE(client.send("GET /hello HTTP/1.0\r\n\r\n"));
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hello world");
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.closed_within(5s));
}

TEST_F(HttpServerTest, Http10KeepAliveOnRequest) {
  start();
  Client client(port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(client.send("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    const auto response = client.read_response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->header("connection"), "keep-alive");
  }
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  start();
  Client client(port());
  const auto response = client.get("/hello", "Connection: close\r\n");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.closed_within(5s));
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  start();
  Client client(port());
  for (int i = 0; i < 50; ++i) {
    const auto response = client.get("/hello");
    ASSERT_TRUE(response);
    ASSERT_EQ(response->status, 200);
  }
  EXPECT_EQ(server_->stats().connections_accepted, 1u);
  EXPECT_EQ(server_->stats().requests, 50u);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  server_ = std::make_unique<HttpServer>(local_options());
  server_->route("/a", [](const Request&) { return text("A"); });
  server_->route("/b", [](const Request&) { return text("B"); });
  server_->route_async("/slow", [&](const Request&, Responder respond) {
    std::lock_guard lock(mutex_);
    helpers_.emplace_back([respond] {
      // The delay is the point: the requests behind this one are answered first and must be
      // held back until it is sent.
      std::this_thread::sleep_for(50ms);
      respond(text("SLOW"));
    });
  });
  server_->start();
  Client client(port());
  std::string batch;
  const char* paths[] = {"/a", "/slow", "/b", "/missing", "/a"};
  for (const char* path : paths)
    batch += std::string("GET ") + path + " HTTP/1.1\r\nHost: t\r\n\r\n";
  batch += "HEAD /b HTTP/1.1\r\nHost: t\r\n\r\n";
  batch += "GET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  ASSERT_TRUE(client.send(batch));
  const std::string expected[] = {"A", "SLOW", "B", "not found\n", "A"};
  for (const auto& body : expected) {
    const auto response = client.read_response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->body, body);
  }
  const auto head = client.read_response(true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->header("content-length"), "1");
  const auto last = client.read_response();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->body, "B");
  EXPECT_EQ(last->header("connection"), "close");
  EXPECT_TRUE(client.closed_within(5s));
}

TEST_F(HttpServerTest, RequestSplitIntoTinyPiecesIsAssembled) {
  start();
  Client client(port());
  const std::string request = "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n\r\n";
  for (char c : request) {
    ASSERT_TRUE(client.send(std::string(1, c)));
    std::this_thread::sleep_for(1ms);  // the point: each byte arrives in a read of its own
  }
  const auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpServerTest, LargeResponseToASlowReader) {
  big_.assign(4 * 1024 * 1024, 'z');
  server_ = std::make_unique<HttpServer>(local_options());
  server_->route("/big", [&](const Request&) { return text(big_); });
  server_->route("/hello", [](const Request&) { return text("hi"); });
  server_->start();
  Client client(port(), /*receive_buffer=*/8192);
  ASSERT_TRUE(client.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
  // The 4 MiB answer cannot fit the small receive buffer: the server finishes it in the
  // background, and must go on serving others meanwhile.
  ASSERT_TRUE(testing::eventually([&] { return server_->stats().async_writes >= 1; }));
  Client other(port());
  const auto quick = other.get("/hello");
  ASSERT_TRUE(quick);
  EXPECT_EQ(quick->body, "hi");
  const auto response = client.read_response(false, 20s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body.size(), big_.size());
  EXPECT_EQ(response->body, big_);
  const auto again = client.get("/hello");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body, "hi");
}

// ---------------------------------------------------------------------------------------------
// Timeouts and limits

TEST_F(HttpServerTest, SlowlorisIsClosedAfterReadTimeoutWhileOthersAreServed) {
  auto options = local_options();
  options.read_timeout = 300ms;
  start(options);
  Client slow(port());
  ASSERT_TRUE(slow.send("GET /hel"));
  const auto sent_at = std::chrono::steady_clock::now();
  // Trickle a byte now and then: a per-read timeout would never fire, a per-request one does.
  for (int i = 0; i < 2; ++i) {
    std::this_thread::sleep_for(50ms);  // the point: a client that trickles bytes
    Client other(port());
    const auto response = other.get("/hello");
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 200);
    slow.send("l");
  }
  EXPECT_FALSE(slow.closed_within(100ms)) << "closed long before read_timeout";
  EXPECT_TRUE(slow.closed_within(5s));
  EXPECT_GE(std::chrono::steady_clock::now() - sent_at, 250ms);
  EXPECT_TRUE(slow.pending().empty());  // closed without a response
  EXPECT_GE(server_->stats().timeouts, 1u);
}

TEST_F(HttpServerTest, SilentConnectionIsClosedAfterReadTimeout) {
  auto options = local_options();
  options.read_timeout = 200ms;
  start(options);
  Client silent(port());
  EXPECT_TRUE(silent.closed_within(5s));
}

TEST_F(HttpServerTest, IdleKeepAliveIsClosedAfterKeepAliveTimeout) {
  auto options = local_options();
  options.keep_alive_timeout = 200ms;
  start(options);
  Client client(port());
  const auto response = client.get("/hello");
  ASSERT_TRUE(response);
  EXPECT_TRUE(client.closed_within(5s));
  EXPECT_TRUE(eventually([&] { return server_->stats().connections_open == 0; }));
}

TEST_F(HttpServerTest, ClientThatNeverReadsIsClosedAfterWriteTimeout) {
  big_.assign(32 * 1024 * 1024, 'z');
  auto options = local_options();
  options.write_timeout = 300ms;
  server_ = std::make_unique<HttpServer>(options);
  server_->route("/big", [&](const Request&) { return text(big_); });
  server_->start();
  Client client(port(), /*receive_buffer=*/4096);
  ASSERT_TRUE(client.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_TRUE(eventually([&] { return server_->stats().timeouts >= 1; }, 10s));
  EXPECT_TRUE(eventually([&] { return server_->stats().connections_open == 0; }, 5s));
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

TEST(HttpServer, EphemeralPortAndRunningState) {
  HttpServer server(local_options());
  server.route("/hello", [](const Request&) { return text("x"); });
  EXPECT_FALSE(server.running());
  server.start();
  EXPECT_TRUE(server.running());
  EXPECT_NE(server.port(), 0);
  EXPECT_EQ(server.host(), "127.0.0.1");
  EXPECT_THROW(server.start(), Error);
  server.stop();
  EXPECT_FALSE(server.running());
  server.stop();  // idempotent
  // A stopped server can start again.
  server.start();
  Client client(server.port());
  const auto response = client.get("/hello");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST(HttpServer, LocalhostAndIpv6Hosts) {
  for (const char* host : {"localhost", "::1", "[::1]"}) {
    auto options = local_options();
    options.host = host;
    HttpServer server(options);
    server.route("/hello",
                 [](const Request& request) { return text(std::string(request.remote_address)); });
    try {
      server.start();
    } catch (const Error& error) {
      // Hosts without IPv6 loopback: the error still names the address.
      EXPECT_NE(std::string(error.what()).find("::1"), std::string::npos) << error.what();
      continue;
    }
    EXPECT_NE(server.port(), 0);
    if (std::string(host) == "localhost") {
      Client client(server.port());
      const auto response = client.get("/hello");
      ASSERT_TRUE(response);
      EXPECT_EQ(response->body, "127.0.0.1");
    }
  }
}

TEST(HttpServer, OccupiedPortErrorNamesThePort) {
  HttpServer first(local_options());
  first.start();
  auto options = local_options();
  options.port = first.port();
  HttpServer second(options);
  try {
    second.start();
    FAIL() << "binding an occupied port succeeded";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("127.0.0.1:" + std::to_string(first.port())), std::string::npos)
        << message;
  }
  EXPECT_FALSE(second.running());
}

// The hint in a listen error comes from the errno, not from guessing.
TEST(HttpServer, ListenErrorsHintAtTheirCause) {
  auto options = local_options();
  options.host = "192.0.2.1";  // TEST-NET-1: never an address of this machine
  HttpServer foreign(options);
  try {
    foreign.start();
    FAIL() << "listening on 192.0.2.1";
  } catch (const ListenError& error) {
    const std::string message = error.what();
    EXPECT_EQ(error.code(), std::errc::address_not_available);
    EXPECT_EQ(error.step(), "bind");
    EXPECT_NE(message.find("192.0.2.1:" + std::to_string(options.port)), std::string::npos)
        << message;
    EXPECT_NE(message.find("192.0.2.1 is not an address of this machine's network interfaces"),
              std::string::npos)
        << message;
    EXPECT_EQ(message.find("another process"), std::string::npos) << message;
  }
  EXPECT_FALSE(foreign.running());

  HttpServer first(local_options());
  first.start();
  options = local_options();
  options.port = first.port();
  HttpServer second(options);
  try {
    second.start();
    FAIL() << "binding an occupied port succeeded";
  } catch (const ListenError& error) {
    const std::string message = error.what();
    EXPECT_EQ(error.code(), std::errc::address_in_use);
    EXPECT_NE(message.find("is another process using port " + std::to_string(first.port())),
              std::string::npos)
        << message;
    EXPECT_EQ(message.find("not an address"), std::string::npos) << message;
  }
}

// EACCES: a port below 1024 without the privilege. Root has it, so a child process gives it up.
TEST(HttpServer, PrivilegedPortErrorSaysSo) {
  std::ifstream start_file("/proc/sys/net/ipv4/ip_unprivileged_port_start");
  int unprivileged_start = 1024;
  start_file >> unprivileged_start;
  if (unprivileged_start <= 1) GTEST_SKIP() << "every port is unprivileged here";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Only async-signal-safe calls matter before exec; this child never execs, so it keeps to
    // the one server and reports through its exit status.
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(10);
    auto options = local_options();
    options.port = 1;
    HttpServer privileged(options);
    try {
      privileged.start();
      ::_exit(11);
    } catch (const ListenError& error) {
      const std::string message = error.what();
      if (error.code() != std::errc::permission_denied) ::_exit(12);
      if (message.find("port 1 is privileged") == std::string::npos) ::_exit(13);
      if (message.find("another process") != std::string::npos) ::_exit(14);
      ::_exit(0);
    } catch (...) {
      ::_exit(15);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10 setuid failed, 11 bound, 12 wrong errno, 13 no hint, "
                                       "14 wrong hint, 15 other exception";
}

TEST(HttpServer, BadHostOrOptionsAreErrors) {
  auto options = local_options();
  options.host = "not a host";
  HttpServer bad_host(options);
  try {
    bad_host.start();
    FAIL();
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("not a host"), std::string::npos) << error.what();
  }
  options = local_options();
  options.host = "192.0.2.1";  // TEST-NET, not a local address
  HttpServer foreign(options);
  EXPECT_THROW(foreign.start(), Error);
  options = local_options();
  options.port = 70000;
  HttpServer bad_port(options);
  try {
    bad_port.start();
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("70000"), std::string::npos) << error.what();
  }
  options = local_options();
  options.threads = 0;
  HttpServer no_threads(options);
  EXPECT_THROW(no_threads.start(), ConfigError);
}

TEST(HttpServer, StopWithIdleKeepAliveConnectionsIsPrompt) {
  HttpServer server(local_options());
  server.route("/hello", [](const Request&) { return text("x"); });
  server.start();
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(std::make_unique<Client>(server.port()));
    ASSERT_TRUE(clients.back()->get("/hello"));
  }
  const auto started = std::chrono::steady_clock::now();
  server.stop(10s);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "stop waited for idle connections";
  for (auto& client : clients) EXPECT_TRUE(client->closed_within(2s));
}

TEST(HttpServer, StopWithStalledClientClosesItAfterGrace) {
  HttpServer server(local_options());
  server.route("/hello", [](const Request&) { return text("x"); });
  server.start();
  Client stalled(server.port());
  ASSERT_TRUE(stalled.send("GET /hel"));
  ASSERT_TRUE(eventually([&] { return server.stats().connections_open == 1; }));
  const auto started = std::chrono::steady_clock::now();
  server.stop(200ms);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_TRUE(stalled.closed_within(2s));
}

TEST(HttpServer, StopClosesAsyncRequestThatNeverAnswers) {
  std::promise<Responder> captured;
  HttpServer server(local_options());
  server.route_async(
      "/never", [&](const Request&, Responder respond) { captured.set_value(std::move(respond)); });
  server.start();
  Client client(server.port());
  ASSERT_TRUE(client.send("GET /never HTTP/1.1\r\nHost: t\r\n\r\n"));
  Responder responder = captured.get_future().get();
  const auto started = std::chrono::steady_clock::now();
  server.stop(200ms);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_TRUE(client.closed_within(2s));
  responder(text("late"));  // after stop: ignored
}

TEST(HttpServer, StopLetsInFlightResponseFinish) {
  std::thread helper;
  std::promise<void> handler_entered;
  HttpServer server(local_options());
  server.route_async("/slow", [&](const Request&, Responder respond) {
    helper = std::thread([respond, &server] {
      // Answer only once stop() is under way: the response must still get out.
      EXPECT_TRUE(testing::eventually([&] { return server.stopping(); }));
      respond(text("finished"));
    });
    handler_entered.set_value();
  });
  server.start();
  Client client(server.port());
  ASSERT_TRUE(client.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"));
  handler_entered.get_future().wait();
  server.stop(5s);
  const auto response = client.read_response(false, 2s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "finished");
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.closed_within(2s));
  helper.join();
}

TEST(HttpServer, StopFromAHandlerIsRefused) {
  HttpServer* self = nullptr;
  HttpServer server(local_options());
  self = &server;
  server.route("/stop", [&](const Request&) {
    try {
      self->stop();
      return text("stopped?!");
    } catch (const Error&) {
      return text("refused");
    }
  });
  server.start();
  Client client(server.port());
  const auto response = client.get("/stop");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "refused");
}

}  // namespace
}  // namespace monitoring::server
