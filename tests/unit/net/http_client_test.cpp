#include "net/http_client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/local_http_peer.hpp"

namespace monitoring::common {
namespace {

using monitoring::testing::CannedAnswer;
using monitoring::testing::closed_loopback_port;
using monitoring::testing::http_answer;
using monitoring::testing::LocalHttpPeer;
using monitoring::testing::RecordedRequest;
using ::testing::HasSubstr;
using ::testing::Not;

HttpRequest get(std::string url) {
  HttpRequest request;
  request.url = std::move(url);
  return request;
}

TEST(HttpClient, ReturnsStatusHeadersAndBody) {
  LocalHttpPeer peer([](const RecordedRequest&) {
    return CannedAnswer{http_answer(201, "Created", "hello body",
                                    {{"X-Custom", "  first value "},
                                     {"Content-Type", "text/plain"},
                                     {"set-cookie", "a=1"},
                                     {"Set-Cookie", "b=2"}})};
  });
  HttpRequest request = get(peer.url("/path?q=1"));
  request.headers.add("X-Request-Id", "abc-123");

  HttpResponse response = http_request(request);

  EXPECT_EQ(response.status, 201);
  EXPECT_TRUE(response.ok());
  EXPECT_EQ(response.body, "hello body");
  EXPECT_EQ(response.headers.get("x-custom"), "first value");
  EXPECT_EQ(response.headers.get("CONTENT-TYPE"), "text/plain");
  EXPECT_EQ(response.headers.get("Content-Length"), "10");
  EXPECT_FALSE(response.headers.get("X-Missing").has_value());
  EXPECT_THAT(response.headers.get_all("SET-COOKIE"), ::testing::ElementsAre("a=1", "b=2"));
  EXPECT_EQ(response.effective_url, peer.url("/path?q=1"));

  auto requests = peer.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].target, "/path?q=1");
  EXPECT_EQ(requests[0].header("x-request-id"), "abc-123");
  EXPECT_EQ(requests[0].header("user-agent"), "monitoring-cpp/0.1");
  EXPECT_TRUE(requests[0].body.empty());
}

TEST(HttpClient, ErrorStatusIsAResponseNotAnException) {
  LocalHttpPeer peer([](const RecordedRequest&) {
    return CannedAnswer{http_answer(503, "Service Unavailable", "{\"error\":\"down\"}")};
  });
  HttpResponse response = http_request(get(peer.url("/health")));
  EXPECT_EQ(response.status, 503);
  EXPECT_FALSE(response.ok());
  EXPECT_EQ(response.body, "{\"error\":\"down\"}");
}

TEST(HttpClient, PostBodyArrivesIntact) {
  LocalHttpPeer peer([](const RecordedRequest& request) {
    return CannedAnswer{http_answer(200, "OK", std::to_string(request.body.size()))};
  });
  // Binary bytes, NUL, CR/LF, UTF-8, and large enough to need several TCP segments.
  std::string body("a\0b\r\n\r\nc\xff\xfe", 11);
  body += "Привет, мир ✓";
  for (int i = 0; i < 50000; ++i) body += static_cast<char>('A' + i % 26);

  HttpRequest request = get(peer.url("/upload"));
  request.method = "POST";
  request.body = body;
  request.headers.add("Content-Type", "application/octet-stream");
  HttpResponse response = http_request(request);

  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, std::to_string(body.size()));
  auto requests = peer.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].body, body);
  EXPECT_EQ(requests[0].header("content-type"), "application/octet-stream");
  EXPECT_FALSE(requests[0].has_header("expect"));  // no 100-continue round trip
}

TEST(HttpClient, PostWithoutContentTypeSendsNoFormEncodingDefault) {
  LocalHttpPeer peer(
      [](const RecordedRequest&) { return CannedAnswer{http_answer(200, "OK", "")}; });
  HttpRequest request = get(peer.url("/x"));
  request.method = "POST";
  request.body = "k=v";
  http_request(request);
  auto requests = peer.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_FALSE(requests[0].has_header("content-type"));
  EXPECT_EQ(requests[0].body, "k=v");
}

TEST(HttpClient, PutDeleteHeadAndEmptyPostUseTheRightMethods) {
  LocalHttpPeer peer([](const RecordedRequest& request) {
    return CannedAnswer{http_answer(200, "OK", request.method == "HEAD" ? "" : request.method)};
  });
  for (std::string method : {"PUT", "DELETE", "POST", "PATCH"}) {
    HttpRequest request = get(peer.url("/m"));
    request.method = method;
    if (method == "PUT") request.body = "put body";
    HttpResponse response = http_request(request);
    EXPECT_EQ(response.body, method);
  }
  HttpRequest head = get(peer.url("/m"));
  head.method = "HEAD";
  EXPECT_EQ(http_request(head).status, 200);

  auto requests = peer.requests();
  ASSERT_EQ(requests.size(), 5u);
  EXPECT_EQ(requests[0].method, "PUT");
  EXPECT_EQ(requests[0].body, "put body");
  EXPECT_EQ(requests[1].method, "DELETE");
  EXPECT_TRUE(requests[1].body.empty());
  EXPECT_EQ(requests[2].method, "POST");
  EXPECT_EQ(requests[2].header("content-length"), "0");
  EXPECT_EQ(requests[3].method, "PATCH");
  EXPECT_EQ(requests[4].method, "HEAD");
}

TEST(HttpClient, SendsBasicAuthAndBearerToken) {
  LocalHttpPeer peer(
      [](const RecordedRequest&) { return CannedAnswer{http_answer(200, "OK", "")}; });
  HttpRequest basic = get(peer.url("/a"));
  basic.username = "aladdin";
  basic.password = "opensesame";
  http_request(basic);
  HttpRequest bearer = get(peer.url("/b"));
  bearer.bearer_token = "tok.en-123";
  http_request(bearer);

  auto requests = peer.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].header("authorization"), "Basic YWxhZGRpbjpvcGVuc2VzYW1l");
  EXPECT_EQ(requests[1].header("authorization"), "Bearer tok.en-123");
}

TEST(HttpClient, RedirectsAreNotFollowedUnlessAsked) {
  LocalHttpPeer peer([](const RecordedRequest& request) {
    if (request.target == "/old")
      return CannedAnswer{http_answer(302, "Found", "", {{"Location", "/new"}})};
    return CannedAnswer{http_answer(200, "OK", "new place")};
  });
  HttpResponse not_followed = http_request(get(peer.url("/old")));
  EXPECT_EQ(not_followed.status, 302);
  EXPECT_EQ(not_followed.headers.get("location"), "/new");

  HttpRequest follow = get(peer.url("/old"));
  follow.follow_redirects = true;
  HttpResponse followed = http_request(follow);
  EXPECT_EQ(followed.status, 200);
  EXPECT_EQ(followed.body, "new place");
  EXPECT_EQ(followed.effective_url, peer.url("/new"));
  // Headers are those of the final response only.
  EXPECT_FALSE(followed.headers.get("location").has_value());
  EXPECT_EQ(peer.requests().size(), 3u);
}

TEST(HttpClient, ReusesTheConnectionOnTheSameThread) {
  LocalHttpPeer peer(
      [](const RecordedRequest&) { return CannedAnswer{http_answer(200, "OK", "x")}; });
  for (int i = 0; i < 5; ++i) EXPECT_EQ(http_request(get(peer.url("/again"))).body, "x");
  auto requests = peer.requests();
  ASSERT_EQ(requests.size(), 5u);
  EXPECT_EQ(peer.connections(), 1);
  for (const auto& request : requests) EXPECT_EQ(request.connection, 1);
}

TEST(HttpClient, SilentServerTimesOutWithinTheTimeout) {
  LocalHttpPeer peer([](const RecordedRequest&) { return CannedAnswer{{}, /*silent=*/true}; });
  HttpRequest request = get(peer.url("/slow"));
  request.timeout = std::chrono::milliseconds(300);

  const auto start = std::chrono::steady_clock::now();
  try {
    http_request(request);
    FAIL() << "expected a timeout";
  } catch (const HttpTransportError& error) {
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(error.kind(), HttpTransportError::Kind::kTimeout);
    EXPECT_THAT(error.what(), HasSubstr(peer.url("/slow")));
    EXPECT_THAT(error.what(), HasSubstr("timed out"));
    EXPECT_GE(elapsed, std::chrono::milliseconds(250));
    // Generous upper bound: the point is that it does not hang, not a latency claim.
    EXPECT_LT(elapsed, std::chrono::seconds(5));
  }
  // The thread's handle is still usable after a timeout.
  LocalHttpPeer healthy(
      [](const RecordedRequest&) { return CannedAnswer{http_answer(200, "OK", "ok")}; });
  EXPECT_EQ(http_request(get(healthy.url("/"))).body, "ok");
}

TEST(HttpClient, ConnectionRefusedNamesTheUrl) {
  const std::string url = "http://127.0.0.1:" + std::to_string(closed_loopback_port()) + "/metrics";
  try {
    http_request(get(url));
    FAIL() << "expected a connection error";
  } catch (const HttpTransportError& error) {
    EXPECT_EQ(error.kind(), HttpTransportError::Kind::kConnect);
    EXPECT_THAT(error.what(), HasSubstr("HTTP GET " + url + " failed"));
    EXPECT_THAT(error.what(), HasSubstr("curl error 7"));
    EXPECT_THAT(error.what(), HasSubstr("[Connection refused]"));  // the OS reason too
  }
}

TEST(HttpClient, TransportErrorIsAMonitoringError) {
  const std::string url = "http://127.0.0.1:" + std::to_string(closed_loopback_port()) + "/";
  EXPECT_THROW(http_request(get(url)), monitoring::Error);
}

TEST(HttpClient, ErrorMessagesNeverContainCredentials) {
  const int port = closed_loopback_port();
  HttpRequest request =
      get("http://user:s3cr3t-pw@127.0.0.1:" + std::to_string(port) + "/x?token=abc123&page=2");
  request.password = "other-pass-456";
  request.bearer_token = "bearer-789";
  try {
    http_request(request);
    FAIL() << "expected a connection error";
  } catch (const HttpTransportError& error) {
    std::string message = error.what();
    EXPECT_THAT(message, Not(HasSubstr("s3cr3t-pw")));
    EXPECT_THAT(message, Not(HasSubstr("abc123")));
    EXPECT_THAT(message, Not(HasSubstr("other-pass-456")));
    EXPECT_THAT(message, Not(HasSubstr("bearer-789")));
    EXPECT_THAT(message, HasSubstr("http://[Filtered]@127.0.0.1:" + std::to_string(port) +
                                   "/x?token=[Filtered]&page=2"));
  }
}

TEST(HttpClient, TlsHandshakeWithAPlainHttpServerIsATlsError) {
  // A plain-text peer answers the ClientHello with an HTTP error: not a TLS record.
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  std::thread peer([listener] {
    int client = ::accept(listener, nullptr, nullptr);
    if (client < 0) return;
    char buffer[1024];
    [[maybe_unused]] ssize_t ignored = ::recv(client, buffer, sizeof(buffer), 0);
    const std::string answer = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    ignored = ::send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
    ::close(client);
  });

  const std::string url = "https://127.0.0.1:" + std::to_string(ntohs(address.sin_port)) + "/";
  HttpRequest request = get(url);
  request.timeout = std::chrono::seconds(5);
  try {
    http_request(request);
    ADD_FAILURE() << "expected a TLS error";
  } catch (const HttpTransportError& error) {
    EXPECT_EQ(error.kind(), HttpTransportError::Kind::kTls) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("HTTP GET " + url + " failed"));
  }
  peer.join();
  ::close(listener);
}

TEST(HttpClient, OversizedBodyFails) {
  LocalHttpPeer peer([](const RecordedRequest&) {
    return CannedAnswer{http_answer(200, "OK", std::string(4096, 'z'))};
  });
  HttpRequest request = get(peer.url("/big"));
  request.max_response_bytes = 1000;
  try {
    http_request(request);
    FAIL() << "expected a size error";
  } catch (const HttpTransportError& error) {
    EXPECT_EQ(error.kind(), HttpTransportError::Kind::kTooLarge);
    EXPECT_THAT(error.what(), HasSubstr("larger than 1000 bytes"));
  }
}

TEST(HttpClient, RejectsInvalidRequestsBeforeSending) {
  LocalHttpPeer peer(
      [](const RecordedRequest&) { return CannedAnswer{http_answer(200, "OK", "")}; });
  auto kind_of = [](const HttpRequest& request) {
    try {
      http_request(request);
    } catch (const HttpTransportError& error) {
      return error.kind();
    }
    return HttpTransportError::Kind::kOther;
  };
  HttpRequest injected = get(peer.url("/"));
  injected.headers.add("X-Evil", "a\r\nX-Injected: 1");
  EXPECT_EQ(kind_of(injected), HttpTransportError::Kind::kInvalidRequest);

  HttpRequest bad_method = get(peer.url("/"));
  bad_method.method = "GET /other HTTP/1.1\r\n";
  EXPECT_EQ(kind_of(bad_method), HttpTransportError::Kind::kInvalidRequest);

  EXPECT_EQ(kind_of(get("")), HttpTransportError::Kind::kInvalidRequest);
  EXPECT_EQ(kind_of(get("ftp://127.0.0.1/file")), HttpTransportError::Kind::kInvalidRequest);
  EXPECT_EQ(kind_of(get("file:///etc/passwd")), HttpTransportError::Kind::kInvalidRequest);
  EXPECT_TRUE(peer.requests().empty());
}

TEST(HttpClientConcurrency, ManyThreadsShareNothingAndAllSucceed) {
  LocalHttpPeer peer([](const RecordedRequest& request) {
    return CannedAnswer{http_answer(200, "OK", "echo:" + request.target)};
  });
  constexpr int kThreads = 4;
  constexpr int kRequests = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        const std::string path = "/t" + std::to_string(t) + "/" + std::to_string(i);
        HttpRequest request;
        request.url = peer.url(path);
        request.method = (i % 2 == 0) ? "GET" : "POST";
        request.body = (i % 2 == 0) ? "" : path;
        try {
          HttpResponse response = http_request(request);
          if (response.status != 200 || response.body != "echo:" + path) ++failures;
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(peer.requests().size(), static_cast<std::size_t>(kThreads * kRequests));
  // Each thread keeps its own connection alive: far fewer connections than requests.
  EXPECT_LE(peer.connections(), kThreads);
}

TEST(HttpHeaders, LookupIsCaseInsensitive) {
  HttpHeaders headers;
  headers.add("Retry-After", "30");
  headers.add("X-Sentry-Rate-Limits", "60:error");
  headers.add("x-sentry-rate-limits", "120:transaction");
  EXPECT_EQ(headers.get("retry-after"), "30");
  EXPECT_EQ(headers.get("RETRY-AFTER"), "30");
  EXPECT_TRUE(headers.contains("X-SENTRY-RATE-LIMITS"));
  EXPECT_FALSE(headers.contains("Retry"));
  EXPECT_THAT(headers.get_all("X-Sentry-Rate-Limits"),
              ::testing::ElementsAre("60:error", "120:transaction"));
  EXPECT_EQ(headers.size(), 3u);
}

TEST(RedactUrl, RemovesUserInfoAndSecretQueryValues) {
  EXPECT_EQ(redact_url("http://user:secret@host/x?token=abc"),
            "http://[Filtered]@host/x?token=[Filtered]");
}

TEST(RedactUrl, KeepsHarmlessUrlsUnchanged) {
  for (std::string_view url :
       {"http://127.0.0.1:9091/metrics/job/batch",
        "https://api.example.com/v1/items?page=2&sort=asc", "https://host/path#section",
        "host:8080/path", "", "http://[::1]:9090/x"})
    EXPECT_EQ(redact_url(url), url);
}

TEST(RedactUrl, DsnKeyAndDatabasePasswords) {
  EXPECT_EQ(redact_url("https://0123456789abcdef@o1.ingest.sentry.io/42"),
            "https://[Filtered]@o1.ingest.sentry.io/42");
  EXPECT_EQ(redact_url("postgresql://bot:p%40ss@db:5432/bot?sslmode=require"),
            "postgresql://[Filtered]@db:5432/bot?sslmode=require");
  EXPECT_EQ(redact_url("redis://:hunter2@127.0.0.1:6379/0"), "redis://[Filtered]@127.0.0.1:6379/0");
  // '@' inside the password: the last '@' of the authority ends the user info.
  EXPECT_EQ(redact_url("http://u:p@ss@host/"), "http://[Filtered]@host/");
  // No scheme at all.
  EXPECT_EQ(redact_url("user:pw@host:5432/db"), "[Filtered]@host:5432/db");
}

// Found by fuzz/url_redaction: a user-info with control characters was removed by the
// authority step, which joined the text into one URL that a second redaction cut further.
TEST(RedactUrl, IsIdempotentWhenTheAuthorityHoldsControlCharacters) {
  const std::string_view text = "WW.44462://4\x01.4)\x8d\x01W`@v://:Zq9Secret@";
  const std::string once = redact_url(text);
  EXPECT_EQ(once.find("Zq9Secret"), std::string::npos) << once;
  EXPECT_EQ(redact_url(once), once);
}

TEST(RedactUrl, SecretLookingParametersAnywhereInQueryAndFragment) {
  EXPECT_EQ(
      redact_url("https://h/cb?code=1&access_token=xyz&API-KEY=k1;sig=s&X-Amz-Signature=q&n=5"),
      "https://h/cb?code=1&access_token=[Filtered]&API-KEY=[Filtered];sig=[Filtered]"
      "&X-Amz-Signature=[Filtered]&n=5");
  EXPECT_EQ(redact_url("https://h/cb#access_token=xyz&state=1"),
            "https://h/cb#access_token=[Filtered]&state=1");
  EXPECT_EQ(redact_url("https://h/?password=&flag"), "https://h/?password=&flag");
  EXPECT_EQ(redact_url("https://h/?pass%77ord=x"), "https://h/?pass%77ord=[Filtered]");
  EXPECT_EQ(redact_url("https://h/?Session_ID=a&sentry_key=b"),
            "https://h/?Session_ID=[Filtered]&sentry_key=[Filtered]");
}

TEST(RedactUrl, TelegramBotTokenInPath) {
  EXPECT_EQ(
      redact_url("https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe"),
      "https://api.telegram.org/bot[Filtered]/getMe");
  EXPECT_EQ(
      redact_url(
          "http://127.0.0.1:8081/bot42424:ABCDEFGHIJKLMNOPQRSTUVWXYZ_-/sendMessage?chat_id=1"),
      "http://127.0.0.1:8081/bot[Filtered]/sendMessage?chat_id=1");
  // Short "id:value" segments are not tokens.
  EXPECT_EQ(redact_url("https://h/bot12:abc/x"), "https://h/bot12:abc/x");
}

TEST(PercentEncoding, RoundTripsAndEncodesEverythingButUnreserved) {
  EXPECT_EQ(percent_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percent_encode("a b/c?d%e"), "a%20b%2Fc%3Fd%25e");
  EXPECT_EQ(percent_encode("ё"), "%D1%91");
  const std::string tricky = "x\"y\\z\n\xF0\x9F\x98\x80/=&";
  EXPECT_EQ(percent_decode(percent_encode(tricky)), tricky);
  EXPECT_EQ(percent_decode("100%"), "100%");
  EXPECT_EQ(percent_decode("%zz%4"), "%zz%4");
  EXPECT_EQ(percent_decode("%41%62"), "Ab");
}

}  // namespace
}  // namespace monitoring::common
