#include <gtest/gtest.h>

#include "support/json_reader.hpp"
#include "test_util.hpp"

namespace monitoring::health {
namespace {

using Json = test_json::Value;

CheckOutcome outcome(std::string name, Status status, std::string message, bool critical,
                     double latency_ms = 1.5) {
  CheckOutcome o;
  o.name = std::move(name);
  o.status = status;
  o.message = std::move(message);
  o.critical = critical;
  o.latency_ms = latency_ms;
  o.checked_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1714566896789));
  return o;
}

HealthReport sample_report() {
  HealthReport report;
  report.timestamp =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(1714566896789));
  report.uptime_seconds = 12.34567;
  report.checks = {outcome("database", Status::healthy, "ok", true, 1.23456),
                   outcome("payment:yookassa", Status::unhealthy, "HTTP 503", false),
                   outcome("telegram", Status::degraded, "rate limited", false),
                   outcome("payment:cryptopay", Status::healthy, "HTTP 200", false)};
  report.status = aggregate_status(report.checks);
  return report;
}

TEST(HealthJson, HealthBodyFollowsTheContract) {
  const HealthReport report = sample_report();
  const Json body = test_json::parse(to_json(report));
  EXPECT_EQ(body.keys(),
            (std::vector<std::string>{"status", "timestamp", "uptime_seconds", "checks"}));
  EXPECT_EQ(body["status"].string, "degraded");
  EXPECT_EQ(body["timestamp"].string, "2024-05-01T12:34:56.789Z");
  EXPECT_DOUBLE_EQ(body["uptime_seconds"].number, 12.346);
  const Json& checks = body["checks"];
  EXPECT_EQ(checks.keys(), (std::vector<std::string>{"database", "payment:yookassa", "telegram",
                                                     "payment:cryptopay"}));
  const Json& database = checks["database"];
  EXPECT_EQ(database.keys(),
            (std::vector<std::string>{"status", "latency_ms", "message", "critical"}));
  EXPECT_EQ(database["status"].string, "healthy");
  EXPECT_DOUBLE_EQ(database["latency_ms"].number, 1.235);
  EXPECT_EQ(database["message"].string, "ok");
  EXPECT_EQ(database["critical"].type, Json::Type::kBool);
  EXPECT_TRUE(database["critical"].boolean);
  EXPECT_EQ(checks["payment:yookassa"]["status"].string, "unhealthy");
  EXPECT_FALSE(checks["payment:yookassa"]["critical"].boolean);
}

TEST(HealthJson, HostileNamesAndMessagesStayValidJson) {
  HealthReport report;
  report.timestamp = std::chrono::system_clock::now();
  std::string invalid_utf8 = "bad \xC3\x28 and \xFF\xFE, cut \xE2\x82";
  report.checks = {
      outcome("quote\"back\\slash", Status::unhealthy, "line\nbreak\ttab\x01\x7F", true),
      outcome("utf8", Status::unhealthy, invalid_utf8, true),
      outcome("unicode", Status::healthy, "Привет, 世界 🚀", true)};
  for (const std::string& text : {to_json(report), to_health_json(report)}) {
    SCOPED_TRACE(text);
    EXPECT_NO_THROW(test_json::parse(text));
  }
  const Json body = test_json::parse(to_json(report));
  EXPECT_EQ(body["checks"]["quote\"back\\slash"]["message"].string, "line\nbreak\ttab\x01\x7F");
  EXPECT_NE(body["checks"]["utf8"]["message"].string.find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_EQ(body["checks"]["unicode"]["message"].string, "Привет, 世界 🚀");
}

TEST(HealthJson, IetfFormatMapsStatusesAndGroupsComponents) {
  const HealthReport report = sample_report();
  const Json body = test_json::parse(to_health_json(report, "2getpro-bot", "1.2.3"));
  EXPECT_EQ(body["status"].string, "warn");
  EXPECT_EQ(body["serviceId"].string, "2getpro-bot");
  EXPECT_EQ(body["version"].string, "1.2.3");
  const Json& checks = body["checks"];
  EXPECT_EQ(checks.keys(),
            (std::vector<std::string>{"database:responseTime", "payment:responseTime",
                                      "telegram:responseTime"}));
  const Json& database = checks["database:responseTime"][0];
  EXPECT_EQ(database["status"].string, "pass");
  EXPECT_EQ(database["componentType"].string, "datastore");
  EXPECT_EQ(database["observedUnit"].string, "ms");
  EXPECT_DOUBLE_EQ(database["observedValue"].number, 1.235);
  EXPECT_EQ(database["time"].string, "2024-05-01T12:34:56.789Z");
  EXPECT_FALSE(database.has("output"));  // omitted for pass
  const Json& payments = checks["payment:responseTime"];
  ASSERT_EQ(payments.array.size(), 2u);
  EXPECT_EQ(payments[0]["componentId"].string, "yookassa");
  EXPECT_EQ(payments[0]["status"].string, "fail");
  EXPECT_EQ(payments[0]["output"].string, "HTTP 503");
  EXPECT_EQ(payments[0]["componentType"].string, "system");
  EXPECT_EQ(payments[1]["componentId"].string, "cryptopay");
  EXPECT_EQ(checks["telegram:responseTime"][0]["status"].string, "warn");

  HealthReport down;
  down.checks = {outcome("redis", Status::unhealthy, "refused", true)};
  down.status = aggregate_status(down.checks);
  EXPECT_EQ(test_json::parse(to_health_json(down))["status"].string, "fail");
}

TEST(HealthJson, ReadinessBody) {
  ReadinessReport report;
  report.ready = false;
  report.started = true;
  report.draining = true;
  report.timestamp = std::chrono::system_clock::time_point(std::chrono::seconds(0));
  report.checks = {
      outcome("migrations", Status::unhealthy, "golang-migrate: version 3 is dirty", true)};
  const Json body = test_json::parse(to_json(report));
  EXPECT_EQ(body["ready"].type, Json::Type::kBool);
  EXPECT_FALSE(body["ready"].boolean);
  EXPECT_TRUE(body["started"].boolean);
  EXPECT_TRUE(body["draining"].boolean);
  EXPECT_EQ(body["timestamp"].string, "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(body["checks"]["migrations"]["status"].string, "unhealthy");
}

TEST(HealthJson, AcceptNegotiation) {
  EXPECT_FALSE(accepts_health_json(""));
  EXPECT_FALSE(accepts_health_json("*/*"));
  EXPECT_FALSE(accepts_health_json("application/json"));
  EXPECT_TRUE(accepts_health_json("application/health+json"));
  EXPECT_TRUE(accepts_health_json("Application/Health+JSON"));
  EXPECT_TRUE(accepts_health_json("application/health+json, */*;q=0.1"));
  EXPECT_TRUE(accepts_health_json("application/health+json, */*"));
  EXPECT_TRUE(accepts_health_json("text/html, application/health+json;q=0.9"));
  EXPECT_FALSE(accepts_health_json("application/health+json;q=0.5, application/json"));
  EXPECT_FALSE(accepts_health_json("application/health+json;q=0"));
  EXPECT_FALSE(accepts_health_json("application/health+json;q=abc"));
  EXPECT_TRUE(accepts_health_json(" application/health+json ; charset=utf-8 ; q=1"));
}

TEST(HealthJson, BearerAuthorization) {
  EXPECT_TRUE(bearer_authorized("", ""));
  EXPECT_TRUE(bearer_authorized("anything", ""));
  EXPECT_TRUE(bearer_authorized("Bearer s3cret", "s3cret"));
  EXPECT_TRUE(bearer_authorized("bearer s3cret", "s3cret"));
  EXPECT_FALSE(bearer_authorized("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(bearer_authorized("Bearer s3cretX", "s3cret"));
  EXPECT_FALSE(bearer_authorized("Basic s3cret", "s3cret"));
  EXPECT_FALSE(bearer_authorized("", "s3cret"));
  EXPECT_FALSE(bearer_authorized("Bearers3cret", "s3cret"));
}

}  // namespace
}  // namespace monitoring::health
