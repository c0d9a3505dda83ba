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
