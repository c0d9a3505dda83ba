// What setup_monitoring wires beside /metrics: structured logging from the config, the health
// and readiness checkers behind /health and /ready, the heartbeat-aware /live, and the
// shutdown order (drain first, then stop, then flush the log).

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "monitoring/monitoring.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"

namespace monitoring {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::raw_get;
namespace fs = std::filesystem;

/// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("monitoring-wiring-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

MonitoringConfig loopback_config(const fs::path& log_dir) {
  MonitoringConfig config;
  config.monitoring_host = "127.0.0.1";
  config.monitoring_port = 0;
  config.shutdown_grace = std::chrono::milliseconds(200);
  config.log_dir = log_dir.string();
  return config;
}

/// A loopback port with nothing listening.
int closed_port() {
  MonitoringConfig config;
  config.monitoring_host = "127.0.0.1";
  config.monitoring_port = 0;
  config.log_dir = fs::temp_directory_path().string();
  auto server = setup_monitoring(config);
  return server.port();  // closed once `server` goes out of scope
}

boost::property_tree::ptree parse_json(const std::string& text) {
  std::istringstream stream(text);
  boost::property_tree::ptree tree;
  boost::property_tree::read_json(stream, tree);
  return tree;
}

/// A top-level member whose name contains dots ("log.level"), which ptree paths would split.
template <class T = std::string>
T member(const boost::property_tree::ptree& tree, const std::string& key) {
  return tree.get<T>(boost::property_tree::ptree::path_type(key, '/'));
}

std::vector<std::string> read_lines(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(SetupWiring, HealthAndReadyAreServedAndReadyWaitsForStartup) {
  TempDir dir;
  auto server = setup_monitoring(loopback_config(dir.path()));
  ASSERT_NE(server.health_checker(), nullptr);
  ASSERT_NE(server.readiness_checker(), nullptr);

  auto health = raw_get(server.port(), "/health");
  EXPECT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(parse_json(health.body).get<std::string>("status"), "healthy");

  auto ready = raw_get(server.port(), "/ready");
  EXPECT_EQ(ready.status, 503) << "ready before the application said it started: " << ready.body;
  server.mark_started();
  ready = raw_get(server.port(), "/ready");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(parse_json(ready.body).get<bool>("ready"), true);

  // An application check added through the handle shows up in /health.
  server.health_checker()->add_check("queue", [] { return health::Status::degraded; });
  health = raw_get(server.port(), "/health");
  EXPECT_EQ(health.status, 200) << "degraded still serves: " << health.body;
  EXPECT_EQ(parse_json(health.body).get<std::string>("status"), "degraded");
  EXPECT_THAT(health.body, HasSubstr("\"queue\""));
}

TEST(SetupWiring, ConfiguredDependencyThatIsDownMakesHealthAndReadyFail) {
  TempDir dir;
  MonitoringConfig config = loopback_config(dir.path());
  config.redis_url = "redis://:sup3r-secret-pw@127.0.0.1:" + std::to_string(closed_port()) + "/0";
  auto server = setup_monitoring(config);
  server.mark_started();
  const auto health = raw_get(server.port(), "/health");
  EXPECT_EQ(health.status, 503) << health.body;
  EXPECT_THAT(health.body, HasSubstr("\"redis\""));
  EXPECT_THAT(health.body, Not(HasSubstr("sup3r-secret-pw")));
  const auto ready = raw_get(server.port(), "/ready");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_THAT(ready.body, HasSubstr("\"cache\""));
  EXPECT_EQ(raw_get(server.port(), "/live").status, 200) << "/live touches no dependency";
}

TEST(SetupWiring, AuthTokenHidesHealthDetailsButNotTheStatus) {
  TempDir dir;
  MonitoringConfig config = loopback_config(dir.path());
  config.monitoring_auth_token = "scrape-token-123";
  auto server = setup_monitoring(config);
  server.health_checker()->add_check("queue", [] { return true; });
  const auto anonymous = raw_get(server.port(), "/health");
  EXPECT_EQ(anonymous.status, 200);
  EXPECT_THAT(anonymous.body, Not(HasSubstr("queue")));
  const auto authorized =
      raw_get(server.port(), "/health", "Authorization: Bearer scrape-token-123\r\n");
  EXPECT_EQ(authorized.status, 200);
  EXPECT_THAT(authorized.body, HasSubstr("queue"));
}

TEST(SetupWiring, ShutdownDrainsReadinessWhileEverythingElseServes) {
  TempDir dir;
  MonitoringConfig config = loopback_config(dir.path());
  config.drain_period = std::chrono::milliseconds(1500);
  auto server = setup_monitoring(config);
  server.mark_started();
  const auto port = server.port();
  ASSERT_EQ(raw_get(port, "/ready").status, 200);

  std::thread stopper([&] { shutdown_monitoring(server); });
  // Inside the drain period: /ready turned 503 while everything else still serves.
  ASSERT_TRUE(testing::eventually([&] { return raw_get(port, "/ready").status == 503; }));
  EXPECT_EQ(raw_get(port, "/live").status, 200);
  EXPECT_EQ(raw_get(port, "/metrics").status, 200);
  EXPECT_EQ(raw_get(port, "/health").status, 200);
  stopper.join();
  EXPECT_LT(testing::connect_loopback(port), 0) << "the server still listens after shutdown";
}

TEST(SetupWiring, StalledHeartbeatTurnsLiveUnavailable) {
  TempDir dir;
  auto server = setup_monitoring(loopback_config(dir.path()));
  health::Heartbeat& beat = heartbeat("wiring_test_loop", std::chrono::milliseconds(200));
  EXPECT_EQ(raw_get(server.port(), "/live").status, 200);
  // The process-wide registry runs on the real clock: wait until the beat is stale.
  ASSERT_TRUE(testing::eventually([&] { return beat.stale(); }));
  const auto stalled = raw_get(server.port(), "/live");
  EXPECT_EQ(stalled.status, 503) << stalled.body;
  EXPECT_THAT(stalled.body, HasSubstr("wiring_test_loop"));
  beat.beat();
  EXPECT_EQ(raw_get(server.port(), "/live").status, 200);
  health::HeartbeatRegistry::global().remove("wiring_test_loop");
}

TEST(SetupWiring, LogsGoToLogDirAsEcsJsonAndShutdownFlushesThem) {
  TempDir dir;
  MonitoringConfig config = loopback_config(dir.path());
  config.log_level = "DEBUG";
  config.sentry_environment = "staging";
  auto server = setup_monitoring(config);
  StructuredLogger logger("wiring.test");
  {
    auto user = logger.with_user(42, "alice");
    auto request = logger.with_request_id("req-1");
    for (int i = 0; i < 1000; ++i)
      logger.debug("payment step", {{"step", i}, {"password", "hunter2"}});
  }
  shutdown_monitoring(server);  // must flush every queued record

  const auto lines = read_lines(dir.path() / "app.log");
  int steps = 0;
  for (const auto& line : lines) {
    const auto record = parse_json(line);  // every line is JSON
    if (member<std::string>(record, "message") != "payment step") continue;
    EXPECT_EQ(member<std::string>(record, "log.level"), "debug");
    EXPECT_EQ(member<std::string>(record, "log.logger"), "wiring.test");
    EXPECT_EQ(member<std::string>(record, "user.id"), "42");
    EXPECT_EQ(member<std::string>(record, "user.name"), "alice");
    EXPECT_EQ(member<std::string>(record, "request_id"), "req-1");
    EXPECT_EQ(member<std::string>(record, "service.environment"), "staging");
    EXPECT_EQ(member<int>(record, "step"), steps);
    EXPECT_EQ(member<std::string>(record, "password"), "[Filtered]");
    ++steps;
  }
  EXPECT_EQ(steps, 1000) << "records lost at shutdown";
}

TEST(SetupWiring, LevelFromConfigFiltersRecords) {
  TempDir dir;
  MonitoringConfig config = loopback_config(dir.path());
  config.log_level = "WARNING";
  config.log_levels = {{"wiring.chatty", "DEBUG"}};
  auto server = setup_monitoring(config);
  StructuredLogger quiet("wiring.quiet");
  StructuredLogger chatty("wiring.chatty");
  quiet.info("quiet info");
  quiet.warning("quiet warning");
  chatty.debug("chatty debug");
  shutdown_monitoring(server);
  std::string all;
  for (const auto& line : read_lines(dir.path() / "app.log")) all += line + "\n";
  EXPECT_THAT(all, Not(HasSubstr("quiet info")));
  EXPECT_THAT(all, HasSubstr("quiet warning"));
  EXPECT_THAT(all, HasSubstr("chatty debug"));
}

TEST(SetupWiring, UnusableLogDirIsAConfigErrorNamingThePath) {
  TempDir dir;
  const fs::path file = dir.path() / "not-a-directory";
  std::ofstream(file) << "x";
  MonitoringConfig config = loopback_config(file / "logs");
  try {
    auto server = setup_monitoring(config);
    FAIL() << "setup accepted a log_dir under a regular file";
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr((file / "logs").string()));
  }
}

TEST(SetupWiring, MalformedRedisUrlFailsSetupNamingIt) {
  TempDir dir;
  MonitoringConfig config = loopback_config(dir.path());
  config.redis_url = "rediss://:pw@cache";
  EXPECT_THROW(setup_monitoring(config), ConfigError);
}

TEST(SetupWiring, MalformedSentryDsnIsLoggedAndMonitoringRunsOn) {
  // Issue 5: a DSN Sentry cannot use is a clear error (naming SENTRY_DSN, key hidden), and
  // metrics, logs and probes run on without Sentry.
  for (const std::string dsn :
       {"https://publickey123:secretkey456@sentry.example.com/project", "secretkey456",
        "ftp://publickey123@sentry.example.com/42", "https://sentry.example.com/42"}) {
    TempDir dir;
    MonitoringConfig config = loopback_config(dir.path());
    config.sentry_dsn = dsn;
    auto server = setup_monitoring(config);
    EXPECT_FALSE(server.sentry_enabled()) << dsn;
    EXPECT_EQ(raw_get(server.port(), "/live").status, 200);
    EXPECT_EQ(raw_get(server.port(), "/metrics").status, 200);
    shutdown_monitoring(server);
    int reported = 0;
    for (const auto& line : read_lines(dir.path() / "app.log")) {
      EXPECT_THAT(line, Not(HasSubstr("publickey123")));
      EXPECT_THAT(line, Not(HasSubstr("secretkey456")));
      const auto record = parse_json(line);
      const auto message = member<std::string>(record, "message");
      if (message.find("SENTRY_DSN") == std::string::npos) continue;
      EXPECT_EQ(member<std::string>(record, "log.level"), "error");
      EXPECT_THAT(message, HasSubstr("invalid Sentry DSN"));
      ++reported;
    }
    EXPECT_EQ(reported, 1) << dsn;
  }
}

TEST(SetupWiring, UsableSentryDsnStartsTheClient) {
  TempDir dir;
  MonitoringConfig config = loopback_config(dir.path());
  config.sentry_dsn = "http://key@127.0.0.1:" + std::to_string(closed_port()) + "/7";
  config.sentry_cache_dir = (dir.path() / "sentry-cache").string();
  auto server = setup_monitoring(config);
  EXPECT_TRUE(server.sentry_enabled());
  shutdown_monitoring(server);  // closes the client within its timeout
}

}  // namespace
}  // namespace monitoring
