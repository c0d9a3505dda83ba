#include "monitoring/monitor/default_checks.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/local_http_peer.hpp"
#include "unit/health/test_util.hpp"

namespace monitoring {
namespace {

using health::HealthChecker;
using health::HealthReport;
using health::ReadinessChecker;
using health::Status;

constexpr std::string_view kToken = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1";
constexpr std::string_view kTokenSecret = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1";

TEST(DefaultChecks, FromConfigRegistersTheContractNames) {
  MonitoringConfig config;
  config.database_url =
      "postgresql://bot:pw@127.0.0.1:" + std::to_string(testing::closed_loopback_port()) + "/bot";
  config.redis_url = "redis://127.0.0.1:" + std::to_string(testing::closed_loopback_port());
  config.telegram_token = std::string(kToken);
  config.telegram_api_url = "http://127.0.0.1:1";
  config.panel_url = "http://127.0.0.1:1/";
  config.payment_systems = {{"yookassa", "http://127.0.0.1:1/"},
                            {"cryptopay", "http://127.0.0.1:1/"}};
  HealthChecker health = default_health_checker(config, testing::quiet());
  EXPECT_EQ(health.check_names(),
            (std::vector<std::string>{"database", "redis", "telegram", "panel", "payment:cryptopay",
                                      "payment:yookassa"}));
  ReadinessChecker readiness = default_readiness_checker(config, testing::quiet());
  EXPECT_EQ(readiness.check_names(),
            (std::vector<std::string>{"migrations", "connections", "cache"}));

  HealthReport report = health.check();
  EXPECT_EQ(report.status, Status::unhealthy);
  for (const auto& check : report.checks) {
    EXPECT_EQ(check.status, Status::unhealthy) << check.name;
    EXPECT_EQ(check.critical, check.name == "database" || check.name == "redis") << check.name;
  }
  const std::string body = health::to_json(report);
  EXPECT_EQ(body.find(kTokenSecret), std::string::npos);
  EXPECT_EQ(body.find(":pw@"), std::string::npos);

  MonitoringConfig empty;
  EXPECT_TRUE(default_health_checker(empty, testing::quiet()).check_names().empty());
  EXPECT_TRUE(default_readiness_checker(empty, testing::quiet()).check_names().empty());

  MonitoringConfig broken;
  broken.redis_url = "rediss://:pw@cache";
  EXPECT_THROW(default_health_checker(broken, testing::quiet()), ConfigError);
}

}  // namespace
}  // namespace monitoring
