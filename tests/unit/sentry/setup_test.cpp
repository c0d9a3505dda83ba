// Sentry as setup_monitoring starts it from MonitoringConfig (SENTRY_* variables).

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "ingest_peer.hpp"
#include "monitoring/monitoring.hpp"

namespace sentry = monitoring::sentry;
using sentry_test::IngestPeer;
using sentry_test::wait_for;
using namespace std::chrono_literals;

namespace {

std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("monitoring-sentry-setup-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

}  // namespace

TEST(SentrySetup, SetupMonitoringStartsSentryAndShutdownFlushesIt) {
  IngestPeer peer;
  const auto dir = temp_dir("on");
  {
    auto server = monitoring::setup_monitoring({
        .log_dir = (dir / "logs").string(),
        .sentry_dsn = peer.dsn(),
        .sentry_environment = "staging",
        .sentry_traces_sample_rate = 1.0,
        .enable_monitoring_server = false,
        .sentry_release = "bot@2.0",
        .sentry_cache_dir = (dir / "sentry").string(),
        .log_console = "none",
    });
    ASSERT_TRUE(sentry::is_enabled());
    monitoring::StructuredLogger logger("payments");
    logger.info("charging");
    logger.error("payment failed", {{"payment_system", "yookassa"}});
    auto transaction = sentry::start_transaction("renew");
    EXPECT_TRUE(transaction.sampled()) << "SENTRY_TRACES_SAMPLE_RATE reached the client";
  }  // the handle's destructor shuts down: the error record still becomes an event
  EXPECT_FALSE(sentry::is_enabled());
  auto events = peer.with_item("event");
  ASSERT_EQ(events.size(), 1u);
  const auto& event = *events[0].item("event");
  EXPECT_EQ(event["message"]["formatted"].string, "payment failed");
  EXPECT_EQ(event["environment"].string, "staging");
  EXPECT_EQ(event["release"].string, "bot@2.0");
  EXPECT_EQ(event["extra"]["payment_system"].string, "yookassa");
  EXPECT_EQ(event["breadcrumbs"]["values"].array.back()["message"].string, "charging");
  EXPECT_EQ(peer.with_item("transaction").size(), 1u);
  std::filesystem::remove_all(dir);
}

TEST(SentrySetup, EmptyDsnMeansNoSentry) {
  const auto dir = temp_dir("off");
  {
    auto server = monitoring::setup_monitoring({
        .log_dir = (dir / "logs").string(),
        .enable_monitoring_server = false,
        .sentry_cache_dir = (dir / "sentry").string(),
        .log_console = "none",
    });
    EXPECT_FALSE(sentry::is_enabled());
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "sentry"));
  std::filesystem::remove_all(dir);
}

TEST(SentrySetup, MalformedDsnLeavesSentryOffAndSetupRunsOn) {
  // Issue 5: the DSN error is logged (SetupWiring.MalformedSentryDsnIsLoggedAndMonitoringRunsOn
  // checks the line and the redaction); setup itself succeeds without Sentry.
  const std::string key = "feedfacefeedfacefeedface";
  auto server = monitoring::setup_monitoring(
      {.sentry_dsn = "https://" + key + "@sentry.example.com/not-a-number",
       .enable_monitoring_server = false,
       .log_console = "none"});
  EXPECT_FALSE(server.sentry_enabled());
  EXPECT_FALSE(sentry::is_enabled());
  monitoring::shutdown_monitoring(server);
}

TEST(SentrySetup, CatalogTimersBecomeChildSpansWhileSentryRuns) {
  // Issue 6: with Sentry started by setup, PrometheusMetrics::track_time and timed are spans
  // of the active transaction (op = the timer kind); a throwing call marks its span failed.
  IngestPeer peer;
  const auto dir = temp_dir("timers");
  using monitoring::metrics::PrometheusMetrics;
  std::string panel_span_id;
  {
    auto server = monitoring::setup_monitoring({
        .log_dir = (dir / "logs").string(),
        .sentry_dsn = peer.dsn(),
        .sentry_traces_sample_rate = 1.0,
        .enable_monitoring_server = false,
        .sentry_cache_dir = (dir / "sentry").string(),
        .log_console = "none",
    });
    // A step kind outside a transaction opens none (http and bot_handler would start one).
    { auto outside = PrometheusMetrics::track_time("panel_api", {{"endpoint", "/outside"}}); }
    auto charge =
        PrometheusMetrics::timed("payment", {{"payment_system", "yookassa"}}, [](int amount) {
          if (amount < 0) throw std::invalid_argument("amount");
          return amount;
        });
    std::string trace_id;
    {
      auto transaction = sentry::start_transaction("renew", "task");
      trace_id = transaction.trace_id();
      { auto timer = PrometheusMetrics::track_time("panel_api", {{"endpoint", "/users"}}); }
      EXPECT_EQ(charge(5), 5);
      EXPECT_THROW(charge(-1), std::invalid_argument);
    }
    // The observations carry exemplars naming the trace and the timer's own span.
    const std::string exposition =
        monitoring::metrics::serialize(monitoring::metrics::Registry::default_registry(),
                                       monitoring::metrics::ExpositionFormat::kOpenMetrics);
    const std::string marker = "# {trace_id=\"" + trace_id + "\",span_id=\"";
    const auto line_start = exposition.find("panel_api_response_time_bucket");
    ASSERT_NE(line_start, std::string::npos);
    const auto at = exposition.find(marker, line_start);
    ASSERT_NE(at, std::string::npos) << "no exemplar with the transaction's trace id";
    panel_span_id = exposition.substr(at + marker.size(), 16);
    ASSERT_TRUE(sentry::flush(5s));
  }
  // After shutdown the hooks are gone: timers are plain timers again.
  EXPECT_EQ(monitoring::metrics::detail::g_timer_span_hooks.load(), nullptr);
  { auto after = PrometheusMetrics::track_time("bot_handler", {{"handler", "start"}}); }

  const auto transactions = peer.with_item("transaction");
  ASSERT_EQ(transactions.size(), 1u) << "the timer outside a transaction opened none";
  const auto& tx = *transactions[0].item("transaction");
  std::vector<std::pair<std::string, std::string>> spans;
  for (const auto& span : tx["spans"].array) {
    spans.emplace_back(span["op"].string + " " + span["description"].string, span["status"].string);
    EXPECT_EQ(span["parent_span_id"].string, tx["contexts"]["trace"]["span_id"].string);
  }
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"panel_api endpoint=/users", "ok"},
      {"payment payment_system=yookassa", "ok"},
      {"payment payment_system=yookassa", "internal_error"}};
  EXPECT_EQ(spans, expected);
  std::filesystem::remove_all(dir);
}
