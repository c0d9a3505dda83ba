// GET /status: the sampler's arithmetic (rates, p95, success ratio per payment system), the
// page's escaping of hostile names, and the token. The page in a real browser is
// tests/e2e/status_page.sh.

#include "monitor/status_page.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "monitoring/monitoring.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"

namespace monitoring {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::raw_get;

TEST(StatusSampler, TurnsTwoReadingsIntoRatesP95AndSuccessRatios) {
  detail::StatusSampler sampler(std::chrono::milliseconds(0));  // samples only when told
  const auto start = std::chrono::steady_clock::now();
  sampler.sample_now(start);  // the catalog is process-wide: measure from here
  for (int i = 0; i < 50; ++i) PrometheusMetrics::increment_bot_messages("status_test");
  for (int i = 0; i < 5; ++i) PrometheusMetrics::increment_errors("StatusError", "status_test");
  // 100 handler runs: 95 at 10 ms, 5 at 2 s, so the 0.95 quantile falls in the 10 ms bucket.
  for (int i = 0; i < 95; ++i) PrometheusMetrics::observe_bot_handler_duration("status_test", 0.01);
  for (int i = 0; i < 5; ++i) PrometheusMetrics::observe_bot_handler_duration("status_test", 2.0);
  for (int i = 0; i < 4; ++i) PrometheusMetrics::increment_payment_requests("status_pay");
  PrometheusMetrics::increment_payment_success("status_pay");
  sampler.sample_now(start + std::chrono::seconds(10));

  const auto samples = sampler.samples();
  ASSERT_EQ(samples.size(), 2u);  // the constructor's reading made the first
  const auto& sample = samples.back();
  EXPECT_DOUBLE_EQ(sample.updates_per_second, 5.0);
  EXPECT_DOUBLE_EQ(sample.errors_per_second, 0.5);
  EXPECT_GT(sample.handler_p95_seconds, 0.005);
  EXPECT_LE(sample.handler_p95_seconds, 0.01);
  ASSERT_TRUE(sample.payment_success_ratio.contains("status_pay"));
  EXPECT_DOUBLE_EQ(sample.payment_success_ratio.at("status_pay"), 0.25);

  // An interval without handler runs or payments has nothing to show (a gap, not a zero).
  sampler.sample_now(start + std::chrono::seconds(20));
  EXPECT_TRUE(std::isnan(sampler.samples().back().handler_p95_seconds));
  EXPECT_TRUE(std::isnan(sampler.samples().back().payment_success_ratio.at("status_pay")));
}

// Run under ThreadSanitizer in CI: the sampling thread reads the catalog while others update
// it and render pages, and stop() ends it while they do.
TEST(StatusSamplerConcurrency, SamplesWhileOthersUpdateAndRender) {
  auto sampler = std::make_unique<detail::StatusSampler>(std::chrono::milliseconds(1));
  std::atomic<bool> done{false};
  std::thread writer([&] {
    while (!done) {
      PrometheusMetrics::increment_bot_messages("status_concurrency");
      PrometheusMetrics::observe_bot_handler_duration("status_concurrency", 0.02);
      PrometheusMetrics::increment_payment_requests("status_concurrency_pay");
    }
  });
  std::thread reader([&] {
    while (!done) {
      detail::StatusPageInput input;
      input.samples = sampler->samples();
      input.errors = sampler->last_errors();
      EXPECT_THAT(detail::render_status_page(input), HasSubstr("</html>"));
    }
  });
  EXPECT_TRUE(testing::eventually([&] { return sampler->samples().size() >= 5; }));
  sampler->stop();
  const std::size_t after_stop = sampler->samples().size();
  done = true;
  writer.join();
  reader.join();
  EXPECT_EQ(sampler->samples().size(), after_stop);  // stopped means stopped
  const auto samples = sampler->samples();
  ASSERT_FALSE(samples.empty());
  EXPECT_GE(samples.back().updates_per_second, 0.0);
}

TEST(StatusPage, EscapesHostileNamesAndMessages) {
  detail::StatusPageInput input;
  input.service = "bot <b>";
  health::CheckOutcome check;
  check.name = "<script>alert(1)</script>";
  check.status = health::Status::unhealthy;
  check.message = "\"quoted\" & <img src=x onerror=alert(2)>";
  input.health.status = health::Status::unhealthy;
  input.health.checks.push_back(check);
  input.errors.push_back({"2026-01-01T00:00:00Z", "bot</td>", "Err<", "a<b"});
  const std::string page = detail::render_status_page(input);
  EXPECT_THAT(page, Not(HasSubstr("<script>")));
  EXPECT_THAT(page, Not(HasSubstr("<img")));
  EXPECT_THAT(page, Not(HasSubstr("bot</td>")));
  EXPECT_THAT(page, HasSubstr("&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_THAT(page, HasSubstr("&quot;quoted&quot; &amp; &lt;img"));
  EXPECT_THAT(page, HasSubstr("no data yet"));  // no samples: every chart says so
}

MonitoringConfig status_config(std::string token) {
  MonitoringConfig config;
  config.monitoring_host = "127.0.0.1";
  config.monitoring_port = 0;
  config.shutdown_grace = std::chrono::milliseconds(200);
  config.monitoring_auth_token = std::move(token);
  config.log_dir =
      (std::filesystem::temp_directory_path() / "monitoring-status-page-test-logs").string();
  return config;
}

TEST(StatusPage, ServedAsOneSelfContainedPageBehindTheToken) {
  auto server = setup_monitoring(status_config("status-token-0123456789abcdef"));
  const auto refused = raw_get(server.port(), "/status");
  EXPECT_EQ(refused.status, 401);
  EXPECT_THAT(refused.body, Not(HasSubstr("<html")));
  EXPECT_EQ(raw_get(server.port(), "/status", "Authorization: Bearer wrong\r\n").status, 401);

  const auto page =
      raw_get(server.port(), "/status", "Authorization: Bearer status-token-0123456789abcdef\r\n");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_THAT(page.header("content-security-policy").value_or(""), HasSubstr("default-src 'none'"));
  EXPECT_THAT(page.body, HasSubstr("<meta http-equiv=\"refresh\" content=\"10\">"));
  EXPECT_THAT(page.body, HasSubstr("id=\"chart-payments\""));
  // Nothing from elsewhere: no script, no stylesheet or image link.
  EXPECT_THAT(page.body, Not(HasSubstr("<script")));
  EXPECT_THAT(page.body, Not(HasSubstr("http://")));
  EXPECT_THAT(page.body, Not(HasSubstr("https://")));
  EXPECT_THAT(page.body, Not(HasSubstr("status-token")));
}

TEST(StatusPage, CanBeTurnedOff) {
  MonitoringConfig config = status_config("");
  config.status_page = false;
  auto server = setup_monitoring(config);
  EXPECT_EQ(raw_get(server.port(), "/status").status, 404);
}

}  // namespace
}  // namespace monitoring
