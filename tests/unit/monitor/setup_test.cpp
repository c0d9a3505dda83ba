// setup_monitoring / shutdown_monitoring against a real server on loopback: /metrics in both
// formats and gzip (decoded with zlib), /live, the bearer token, the handle's lifetime.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/time.hpp"
#include "monitoring/monitoring.hpp"
#include "monitoring/server/http_server.hpp"
#include "support/http_client.hpp"

namespace monitoring {
namespace {

using ::testing::ContainsRegex;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::raw_get;
using testing::raw_request;
using ::testing::StartsWith;

/// A config for a server on 127.0.0.1 with an ephemeral port.
MonitoringConfig loopback_config() {
  MonitoringConfig config;
  config.monitoring_host = "127.0.0.1";
  config.monitoring_port = 0;
  config.shutdown_grace = std::chrono::milliseconds(200);
  config.log_dir = (std::filesystem::temp_directory_path() / "monitoring-setup-test-logs").string();
  return config;
}

/// gzip → bytes, with zlib's inflate (an implementation independent of the server's).
std::string gunzip(const std::string& compressed) {
  z_stream stream{};
  EXPECT_EQ(inflateInit2(&stream, 16 + MAX_WBITS), Z_OK);  // 16: expect the gzip wrapper
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buffer[65536];
  int rc = Z_OK;
  while (rc == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    rc = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - stream.avail_out);
  }
  inflateEnd(&stream);
  EXPECT_EQ(rc, Z_STREAM_END) << "gzip stream did not end cleanly";
  return out;
}

/// The "# TYPE ..." lines of an exposition, as a set.
std::set<std::string> type_lines(const std::string& exposition) {
  std::set<std::string> lines;
  std::size_t start = 0;
  while (start < exposition.size()) {
    std::size_t end = exposition.find('\n', start);
    if (end == std::string::npos) end = exposition.size();
    if (exposition.compare(start, 7, "# TYPE ") == 0)
      lines.insert(exposition.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

bool refuses_connections(std::uint16_t port) {
  const int fd = testing::connect_loopback(port);
  if (fd < 0) return true;
  ::close(fd);
  return false;
}

// --- /metrics -------------------------------------------------------------------------------

TEST(SetupMonitoring, ServesTextFormatWithTheCatalog) {
  auto server = setup_monitoring(loopback_config());
  ASSERT_TRUE(server.running());
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(server.host(), "127.0.0.1");
  EXPECT_EQ(server.url(), "http://127.0.0.1:" + std::to_string(server.port()));
  ASSERT_NE(server.http_server(), nullptr);

  PrometheusMetrics::increment_payment_success("setup_test_pay");
  const auto response = raw_get(server.port(), "/metrics");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response.header("vary"), "Accept, Accept-Encoding");
  EXPECT_FALSE(response.header("content-encoding").has_value());
  // Every catalog family is there from the first scrape, even never-used ones.
  for (const char* line :
       {"# TYPE http_requests_total counter", "# TYPE bot_messages_total counter",
        "# TYPE errors_total counter", "# TYPE payment_requests_total counter",
        "# TYPE payment_success_total counter", "# TYPE subscription_created_total counter",
        "# TYPE referral_revenue_total counter", "# TYPE http_request_duration_seconds histogram",
        "# TYPE bot_handler_duration_seconds histogram",
        "# TYPE payment_processing_duration_seconds histogram",
        "# TYPE panel_api_response_time histogram", "# TYPE active_users gauge",
        "# TYPE active_subscriptions gauge", "# TYPE database_connections gauge",
        "# TYPE conversion_rate gauge", "# TYPE churn_rate gauge", "# TYPE average_ltv gauge",
        "# TYPE payment_system_availability gauge"})
    EXPECT_THAT(response.body, HasSubstr(line));
  EXPECT_THAT(response.body,
              HasSubstr("payment_success_total{payment_system=\"setup_test_pay\"} 1"));
  // The process collector was registered too.
  EXPECT_THAT(response.body, HasSubstr("# TYPE process_resident_memory_bytes gauge"));
  EXPECT_THAT(response.body, HasSubstr("process_start_time_seconds "));
  EXPECT_THAT(response.body, Not(HasSubstr("# EOF")));
}

TEST(SetupMonitoring, ExposesTheLibraryAndApplicationBuildInfo) {
  MonitoringConfig config = loopback_config();
  config.sentry_release = "bot@2.4.1";
  config.sentry_environment = "staging";
  auto server = setup_monitoring(config);
  const auto text = raw_get(server.port(), "/metrics");
  EXPECT_THAT(text.body, HasSubstr("# TYPE monitoring_build_info gauge\n"
                                   "monitoring_build_info{version=\"" MONITORING_TEST_VERSION
                                   "\",compiler=\""));
  EXPECT_THAT(text.body, ContainsRegex("build_type=\"[A-Za-z]+\"\\} 1\n"));
  EXPECT_THAT(text.body,
              HasSubstr("bot_build_info{version=\"bot@2.4.1\",environment=\"staging\"} 1\n"));
  const auto open =
      raw_get(server.port(), "/metrics", "Accept: application/openmetrics-text; version=1.0.0\r\n");
  EXPECT_THAT(open.body, HasSubstr("# TYPE monitoring_build info\n"));
  EXPECT_THAT(open.body, HasSubstr("# TYPE bot_build info\n"));
}

TEST(SetupMonitoring, ServesOpenMetricsWhenAsked) {
  auto server = setup_monitoring(loopback_config());
  const auto response =
      raw_get(server.port(), "/metrics",
              "Accept: application/openmetrics-text;version=1.0.0;q=0.9,text/plain;q=0.5\r\n");
  EXPECT_EQ(response.status, 200);
  EXPECT_THAT(response.header("content-type").value_or(""),
              StartsWith("application/openmetrics-text"));
  EXPECT_THAT(response.body,
              HasSubstr("# TYPE payment_success counter"));  // OpenMetrics drops _total
  EXPECT_THAT(response.body, EndsWith("# EOF\n"));

  const auto text = raw_get(server.port(), "/metrics", "Accept: text/plain;version=0.0.4\r\n");
  EXPECT_THAT(text.header("content-type").value_or(""), StartsWith("text/plain; version=0.0.4"));
}

TEST(SetupMonitoring, GzipWhenTheScraperAllowsIt) {
  auto server = setup_monitoring(loopback_config());
  const auto plain = raw_get(server.port(), "/metrics");
  const auto zipped = raw_get(server.port(), "/metrics", "Accept-Encoding: gzip, deflate\r\n");
  EXPECT_EQ(zipped.status, 200);
  EXPECT_EQ(zipped.header("content-encoding"), "gzip");
  EXPECT_EQ(zipped.header("vary"), "Accept, Accept-Encoding");
  EXPECT_EQ(zipped.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string decoded = gunzip(zipped.body);
  EXPECT_LT(zipped.body.size(), decoded.size());
  // Process metrics move between the two scrapes; the families do not.
  EXPECT_EQ(type_lines(decoded), type_lines(plain.body));
  EXPECT_THAT(decoded, HasSubstr("# TYPE payment_success_total counter"));

  const auto refused =
      raw_get(server.port(), "/metrics", "Accept-Encoding: gzip;q=0, identity\r\n");
  EXPECT_FALSE(refused.header("content-encoding").has_value());
  EXPECT_THAT(refused.body, HasSubstr("# TYPE payment_success_total counter"));

  const auto both = raw_get(server.port(), "/metrics",
                            "Accept: application/openmetrics-text\r\nAccept-Encoding: *\r\n");
  EXPECT_EQ(both.header("content-encoding"), "gzip");
  EXPECT_THAT(gunzip(both.body), EndsWith("# EOF\n"));
}

TEST(SetupMonitoring, HeadAndOtherMethods) {
  auto server = setup_monitoring(loopback_config());
  const auto head = raw_request(server.port(), "HEAD", "/metrics");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
  EXPECT_NE(head.header("content-length").value_or("0"), "0");
  EXPECT_EQ(raw_request(server.port(), "POST", "/metrics").status, 405);
  EXPECT_EQ(raw_get(server.port(), "/nope").status, 404);
}

// --- /live ----------------------------------------------------------------------------------

TEST(SetupMonitoring, LiveAnswersAlive) {
  auto server = setup_monitoring(loopback_config());
  const auto response = raw_get(server.port(), "/live");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.header("content-type"), "application/json");
  EXPECT_THAT(response.body, StartsWith("{\"status\":\"alive\",\"uptime_seconds\":"));
  EXPECT_THAT(response.body, EndsWith("}"));
  const std::string number = response.body.substr(response.body.find(':', 12) + 1);
  const double uptime = std::stod(number);
  EXPECT_GT(uptime, 0.0);
  EXPECT_LT(uptime, 24 * 3600.0);                             // a test process is not a day old
  EXPECT_LE(uptime, core::process_uptime_seconds() + 0.001);  // the body rounds to ms
}

// --- bearer token ---------------------------------------------------------------------------

TEST(SetupMonitoringAuth, MetricsRequireTheToken) {
  MonitoringConfig config = loopback_config();
  config.monitoring_auth_token = "scrape-Token_123";
  auto server = setup_monitoring(config);

  const auto missing = raw_get(server.port(), "/metrics");
  EXPECT_EQ(missing.status, 401);
  EXPECT_THAT(missing.header("www-authenticate").value_or(""), StartsWith("Bearer"));
  EXPECT_THAT(missing.body, Not(HasSubstr("payment_success_total")));

  const auto wrong =
      raw_get(server.port(), "/metrics", "Authorization: Bearer scrape-Token_124\r\n");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_THAT(wrong.header("www-authenticate").value_or(""), HasSubstr("invalid_token"));

  EXPECT_EQ(raw_get(server.port(), "/metrics", "Authorization: Bearer scrape-Token_12\r\n").status,
            401);
  EXPECT_EQ(
      raw_get(server.port(), "/metrics", "Authorization: Bearer scrape-Token_1234\r\n").status,
      401);
  EXPECT_EQ(raw_get(server.port(), "/metrics", "Authorization: Basic c2NyYXBlOnRva2Vu\r\n").status,
            401);
  EXPECT_EQ(raw_get(server.port(), "/metrics", "Authorization: scrape-Token_123\r\n").status, 401);

  const auto right =
      raw_get(server.port(), "/metrics", "Authorization: Bearer scrape-Token_123\r\n");
  EXPECT_EQ(right.status, 200);
  EXPECT_THAT(right.body, HasSubstr("# TYPE payment_success_total counter"));
  // The scheme is case-insensitive (RFC 7235); the token is not.
  EXPECT_EQ(raw_get(server.port(), "/metrics", "Authorization: bearer scrape-Token_123\r\n").status,
            200);
  EXPECT_EQ(raw_get(server.port(), "/metrics", "Authorization: Bearer scrape-token_123\r\n").status,
            401);

  // Liveness probes carry no token.
  EXPECT_EQ(raw_get(server.port(), "/live").status, 200);
}

TEST(SetupMonitoringAuth, BearerTokenMatching) {
  using server::bearer_token_matches;
  EXPECT_TRUE(bearer_token_matches("Bearer abc", "abc"));
  EXPECT_TRUE(bearer_token_matches("BEARER   abc ", "abc"));
  EXPECT_FALSE(bearer_token_matches("Bearer abc", ""));
  EXPECT_FALSE(bearer_token_matches("", "abc"));
  EXPECT_FALSE(bearer_token_matches("Bearer", "abc"));
  EXPECT_FALSE(bearer_token_matches("Bearer ", "abc"));
  EXPECT_FALSE(bearer_token_matches("Bearerabc", "abc"));
  EXPECT_FALSE(bearer_token_matches("Bearer ab", "abc"));
  EXPECT_FALSE(bearer_token_matches("Bearer abcd", "abc"));
  EXPECT_FALSE(bearer_token_matches("Bearer abd", "abc"));
  EXPECT_FALSE(bearer_token_matches("Token abc", "abc"));
}

// --- the handle -----------------------------------------------------------------------------

TEST(SetupMonitoringLifetime, ShutdownIsIdempotent) {
  auto server = setup_monitoring(loopback_config());
  const std::uint16_t port = server.port();
  EXPECT_EQ(raw_get(port, "/live").status, 200);
  shutdown_monitoring(server);
  EXPECT_FALSE(server.running());
  EXPECT_TRUE(refuses_connections(port));
  EXPECT_NO_THROW(shutdown_monitoring(server));
  EXPECT_NO_THROW(shutdown_monitoring(server));
  EXPECT_FALSE(server.running());
  EXPECT_EQ(server.port(), port);  // still reports where it was
}

TEST(SetupMonitoringLifetime, DestructorStopsTheServer) {
  std::uint16_t port = 0;
  {
    auto server = setup_monitoring(loopback_config());
    port = server.port();
    EXPECT_EQ(raw_get(port, "/live").status, 200);
  }
  EXPECT_TRUE(refuses_connections(port));
}

TEST(SetupMonitoringLifetime, MovesKeepServing) {
  auto first = setup_monitoring(loopback_config());
  const std::uint16_t port = first.port();
  MonitoringServer moved(std::move(first));
  EXPECT_FALSE(
      first.running());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(first.port(), 0);
  EXPECT_EQ(first.http_server(), nullptr);
  EXPECT_EQ(first.url(), "");
  EXPECT_THROW(first.config(), Error);
  EXPECT_NO_THROW(shutdown_monitoring(first));
  EXPECT_TRUE(moved.running());
  EXPECT_EQ(raw_get(port, "/live").status, 200);

  // Assigning over a running handle shuts the old server down.
  auto other = setup_monitoring(loopback_config());
  const std::uint16_t other_port = other.port();
  moved = std::move(other);
  EXPECT_TRUE(refuses_connections(port));
  EXPECT_EQ(moved.port(), other_port);
  EXPECT_EQ(raw_get(other_port, "/live").status, 200);
}

TEST(SetupMonitoringLifetime, DefaultHandleIsEmpty) {
  MonitoringServer server;
  EXPECT_FALSE(server.running());
  EXPECT_EQ(server.port(), 0);
  EXPECT_EQ(server.host(), "");
  EXPECT_EQ(server.http_server(), nullptr);
  EXPECT_NO_THROW(shutdown_monitoring(server));
}

TEST(SetupMonitoringLifetime, DisabledServerStillRegistersMetrics) {
  MonitoringConfig config = loopback_config();
  config.enable_monitoring_server = false;
  auto server = setup_monitoring(config);
  EXPECT_FALSE(server.running());
  EXPECT_EQ(server.http_server(), nullptr);
  EXPECT_EQ(server.port(), 0);
  EXPECT_EQ(server.url(), "");
  EXPECT_EQ(server.config().enable_monitoring_server, false);
  const std::string exposition = metrics::serialize(metrics::Registry::default_registry());
  EXPECT_THAT(exposition, HasSubstr("# TYPE subscription_created_total counter"));
  EXPECT_THAT(exposition, HasSubstr("# TYPE process_open_fds gauge"));
}

TEST(SetupMonitoringLifetime, SecondSetupOnTheSamePortNamesThePort) {
  auto first = setup_monitoring(loopback_config());
  MonitoringConfig config = loopback_config();
  config.monitoring_port = first.port();
  try {
    auto second = setup_monitoring(config);
    ADD_FAILURE() << "a second server started on port " << first.port();
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr(std::to_string(first.port())));
    EXPECT_THAT(error.what(), HasSubstr("cannot listen"));
  }
  EXPECT_TRUE(first.running());
  EXPECT_EQ(raw_get(first.port(), "/live").status, 200);
}

TEST(SetupMonitoringLifetime, InvalidConfigIsRejectedBeforeAnythingStarts) {
  MonitoringConfig config = loopback_config();
  config.sentry_traces_sample_rate = 3;
  try {
    setup_monitoring(config);
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("sentry_traces_sample_rate"));
  }
}

TEST(SetupMonitoringLifetime, ComponentsCanAddRoutes) {
  auto server = setup_monitoring(loopback_config());
  server.http_server()->route("/custom", [](const server::Request&) {
    server::Response response;
    response.body = "custom route\n";
    return response;
  });
  const auto response = raw_get(server.port(), "/custom");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "custom route\n");
}

TEST(SetupMonitoringLifetime, UrlForWildcardAndIpv6Hosts) {
  MonitoringConfig config = loopback_config();
  config.monitoring_host = "0.0.0.0";
  auto wildcard = setup_monitoring(config);
  EXPECT_EQ(wildcard.url(), "http://127.0.0.1:" + std::to_string(wildcard.port()));
  EXPECT_EQ(raw_get(wildcard.port(), "/live").status, 200);
  EXPECT_EQ(wildcard.host(), "0.0.0.0");

  config.monitoring_host = "::1";
  try {
    auto v6 = setup_monitoring(config);
    EXPECT_EQ(v6.url(), "http://[::1]:" + std::to_string(v6.port()));
  } catch (const Error& error) {
    GTEST_SKIP() << "no IPv6 loopback here: " << error.what();
  }
}

// --- concurrency (also run under ThreadSanitizer) ----------------------------------------------

TEST(SetupMonitoringConcurrency, ScrapesWhileMetricsChangeAndShutdownRaces) {
  auto server = setup_monitoring(loopback_config());
  const std::uint16_t port = server.port();
  std::atomic<bool> stop{false};
  std::atomic<int> ok_scrapes{0};

  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&] {
      while (!stop.load()) {
        PrometheusMetrics::increment_bot_messages("concurrency_text");
        PrometheusMetrics::observe_payment_processing_duration("concurrency_pay", 0.3);
        PrometheusMetrics::set_active_users(42);
      }
    });
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&] {
      for (int n = 0; n < 10; ++n) {
        const auto response = raw_get(port, "/metrics", n % 2 ? "Accept-Encoding: gzip\r\n" : "");
        if (response.status == 200) ok_scrapes.fetch_add(1);
      }
    });
  for (std::size_t i = 2; i < threads.size(); ++i) threads[i].join();
  stop.store(true);
  threads[0].join();
  threads[1].join();
  EXPECT_EQ(ok_scrapes.load(), 20);

  const auto last = raw_get(port, "/metrics");
  EXPECT_THAT(last.body, HasSubstr("bot_messages_total{message_type=\"concurrency_text\"}"));

  // Two threads shut down at once: one does the work, both return, nothing runs twice.
  std::thread a([&] { shutdown_monitoring(server); });
  std::thread b([&] { shutdown_monitoring(server); });
  a.join();
  b.join();
  EXPECT_FALSE(server.running());
  EXPECT_TRUE(refuses_connections(port));
}

}  // namespace
}  // namespace monitoring
