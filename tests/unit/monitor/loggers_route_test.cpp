// GET /loggers, GET/PUT /loggers/<module> through a real monitoring server: listing, changes
// reaching live loggers, the token rules and every kind of bad input.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "monitoring/logging.hpp"
#include "monitoring/monitoring.hpp"
#include "support/http_client.hpp"
#include "support/json_reader.hpp"

namespace monitoring {
namespace {

using logging::Level;
using testing::Client;
using testing::HttpResponse;

constexpr const char* kToken = "loggers-test-token";
const std::string kAuth = std::string("Authorization: Bearer ") + kToken + "\r\n";

MonitoringConfig loopback_config() {
  MonitoringConfig config;
  config.monitoring_host = "127.0.0.1";
  config.monitoring_port = 0;
  config.shutdown_grace = std::chrono::milliseconds(200);
  config.log_dir =
      (std::filesystem::temp_directory_path() / "monitoring-loggers-route-test").string();
  return config;
}

HttpResponse request(std::uint16_t port, const std::string& method, const std::string& path,
                     const std::string& body = {}, const std::string& headers = {}) {
  Client client(port);
  const std::string head = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers +
                           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  if (!client.send(head + body)) throw std::runtime_error("send failed");
  auto response = client.read_response();
  if (!response) throw std::runtime_error("no response to " + method + " " + path);
  return *response;
}

class LoggersRoute : public ::testing::Test {
 protected:
  void start(MonitoringConfig config) {
    server_ = setup_monitoring(config);
    port_ = server_.port();
  }
  void TearDown() override {
    server_ = MonitoringServer();
    // Levels are process-wide: leave them as the other tests expect.
    logging::set_root_level(Level::kInfo);
    for (const auto& module : logging::levels().modules)
      if (module.configured) logging::set_module_level(module.name, std::nullopt);
  }
  HttpResponse put(const std::string& module, const std::string& body,
                   const std::string& headers = kAuth) {
    return request(port_, "PUT", "/loggers/" + module, body, headers);
  }
  test_json::Value get_json(const std::string& path) {
    const HttpResponse response = request(port_, "GET", path, {}, kAuth);
    EXPECT_EQ(response.status, 200) << path << ": " << response.body;
    EXPECT_EQ(response.header("content-type"), "application/json");
    return test_json::parse(response.body);
  }
  // The error message of a refused request, checking that nothing changed.
  std::string refused(const HttpResponse& response, int status) {
    EXPECT_EQ(response.status, status) << response.body;
    EXPECT_EQ(logging::levels().root, Level::kInfo);
    EXPECT_FALSE(logging::module_level("billing").configured.has_value());
    if (response.header("content-type") != "application/json") return response.body;
    return test_json::parse(response.body)["error"].string;
  }

  MonitoringServer server_;
  std::uint16_t port_ = 0;
};

MonitoringConfig with_token() {
  MonitoringConfig config = loopback_config();
  config.monitoring_auth_token = kToken;
  return config;
}

TEST_F(LoggersRoute, ListsRootAndModulesInActuatorShape) {
  MonitoringConfig config = with_token();
  config.log_levels = {{"payment", "DEBUG"}};
  start(config);
  StructuredLogger child("payment.yookassa");
  const auto all = get_json("/loggers");
  EXPECT_EQ(all["levels"][0].string, "OFF");
  EXPECT_EQ(all["loggers"]["root"]["configuredLevel"].string, "INFO");
  EXPECT_EQ(all["loggers"]["root"]["effectiveLevel"].string, "INFO");
  EXPECT_EQ(all["loggers"]["payment"]["configuredLevel"].string, "DEBUG");
  EXPECT_TRUE(all["loggers"]["payment.yookassa"]["configuredLevel"].is_null());
  EXPECT_EQ(all["loggers"]["payment.yookassa"]["effectiveLevel"].string, "DEBUG");

  const auto one = get_json("/loggers/payment.yookassa");
  EXPECT_TRUE(one["configuredLevel"].is_null());
  EXPECT_EQ(one["effectiveLevel"].string, "DEBUG");
  const auto unknown = get_json("/loggers/not.there");  // inherits, as a logger of it would
  EXPECT_EQ(unknown["effectiveLevel"].string, "INFO");
  EXPECT_EQ(get_json("/loggers/root")["effectiveLevel"].string, "INFO");
}

TEST_F(LoggersRoute, PutChangesLiveLoggersAndResetsToInheriting) {
  start(with_token());
  StructuredLogger invoices("billing.invoices");
  ASSERT_FALSE(invoices.is_enabled(Level::kDebug));

  auto response = put("billing", R"({"level": "debug"})");
  ASSERT_EQ(response.status, 200) << response.body;
  const auto changed = test_json::parse(response.body);
  EXPECT_EQ(changed["configuredLevel"].string, "DEBUG");
  EXPECT_TRUE(invoices.is_enabled(Level::kDebug));
  EXPECT_EQ(get_json("/loggers")["loggers"]["billing"]["configuredLevel"].string, "DEBUG");

  response = put("billing", R"({"configuredLevel": null})");  // Actuator's member name
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_TRUE(test_json::parse(response.body)["configuredLevel"].is_null());
  EXPECT_EQ(invoices.level(), Level::kInfo);

  response = put("root", R"({"level":"ERROR"})");
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(invoices.level(), Level::kError);
  EXPECT_EQ(logging::levels().root, Level::kError);
}

TEST_F(LoggersRoute, BadInputIsRefusedNamingTheValueAndChangesNothing) {
  start(with_token());
  EXPECT_NE(refused(put("billing", R"({"level":"VERBOSE"})"), 400).find("\"VERBOSE\""),
            std::string::npos);
  EXPECT_NE(refused(put("billing", R"({"level":"DEBUG")"), 400).find("malformed"),
            std::string::npos);
  EXPECT_NE(refused(put("billing", "level=DEBUG"), 400).find("malformed"), std::string::npos);
  EXPECT_NE(refused(put("billing", R"({"lvl":"DEBUG"})"), 400).find("\"lvl\""), std::string::npos);
  EXPECT_NE(refused(put("billing", R"({"level":"DEBUG","level":"INFO"})"), 400).find("twice"),
            std::string::npos);
  EXPECT_NE(refused(put("billing", R"({"level":3})"), 400).find("level"), std::string::npos);
  EXPECT_NE(refused(put("billing", "{}"), 400).find("missing"), std::string::npos);
  EXPECT_NE(refused(put("billing", R"({"level":"DEBUG"} x)"), 400).find("after"),
            std::string::npos);
  EXPECT_NE(refused(put("root", R"({"level":null})"), 400).find("root"), std::string::npos);
  EXPECT_NE(refused(put("bill..ing", R"({"level":"DEBUG"})"), 400).find("bill..ing"),
            std::string::npos);
  const std::string oversized = R"({"level":")" + std::string(2000, 'A') + "\"}";
  EXPECT_NE(
      refused(put("billing", oversized), 413).find(std::to_string(oversized.size()) + " bytes"),
      std::string::npos);
  refused(request(port_, "GET", "/loggers/bad%20name", {}, kAuth), 404);
  // Methods the endpoints do not serve.
  EXPECT_EQ(request(port_, "DELETE", "/loggers/billing", {}, kAuth).status, 405);
  EXPECT_EQ(request(port_, "POST", "/loggers/billing", R"({"level":"DEBUG"})", kAuth).status, 405);
  EXPECT_EQ(request(port_, "PUT", "/loggers", R"({"level":"DEBUG"})", kAuth).status, 405);
  refused(request(port_, "GET", "/loggers/", {}, kAuth), 404);
}

TEST_F(LoggersRoute, TheTokenGuardsReadsAndWrites) {
  start(with_token());
  refused(put("billing", R"({"level":"DEBUG"})", ""), 401);
  refused(put("billing", R"({"level":"DEBUG"})", "Authorization: Bearer wrong\r\n"), 401);
  EXPECT_EQ(request(port_, "GET", "/loggers").status, 401);
  EXPECT_EQ(request(port_, "GET", "/loggers/billing").status, 401);
  // The token never shows up in what the endpoint answers.
  EXPECT_EQ(get_json("/loggers/billing").has("token"), false);
  EXPECT_EQ(request(port_, "GET", "/loggers", {}, kAuth).body.find(kToken), std::string::npos);
}

TEST_F(LoggersRoute, WithoutATokenWritesAreRefusedUnlessExplicitlyEnabled) {
  start(loopback_config());
  const std::string error = refused(put("billing", R"({"level":"DEBUG"})", ""), 403);
  EXPECT_NE(error.find("MONITORING_LOGGERS_WRITABLE"), std::string::npos) << error;
  EXPECT_EQ(request(port_, "GET", "/loggers").status, 200);  // reads stay open, as /metrics

  server_ = MonitoringServer();
  MonitoringConfig writable = loopback_config();
  writable.loggers_writable = true;
  start(writable);
  const auto response = put("billing", R"({"level":"WARNING"})", "");
  EXPECT_EQ(response.status, 200u) << response.body;
  EXPECT_EQ(logging::module_level("billing").configured, Level::kWarning);
}

}  // namespace
}  // namespace monitoring
