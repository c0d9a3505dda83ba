#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "net/http_client.hpp"
#include "support/json_reader.hpp"
#include "test_util.hpp"

namespace monitoring::health {
namespace {

using namespace std::chrono_literals;
using testing::Gate;
using Json = test_json::Value;
using testing::options;
using testing::quiet;

common::HttpResponse get(const server::HttpServer& server, std::string_view path,
                         std::vector<std::pair<std::string, std::string>> headers = {},
                         std::string method = "GET") {
  common::HttpRequest request;
  request.method = std::move(method);
  request.url = "http://127.0.0.1:" + std::to_string(server.port()) + std::string(path);
  request.timeout = 15s;
  for (auto& [name, value] : headers) request.headers.add(name, value);
  return common::http_request(request);
}

std::string content_type(const common::HttpResponse& response) {
  return std::string(response.headers.get("Content-Type").value_or(""));
}

/// A monitoring server with the health routes on an ephemeral loopback port.
struct Endpoints {
  explicit Endpoints(HealthRouteOptions route_options = {}, unsigned threads = 1)
      : health(quiet()), readiness(quiet()), server([&] {
          server::HttpServerOptions o;
          o.host = "127.0.0.1";
          o.port = 0;
          o.threads = threads;
          return o;
        }()) {
    if (route_options.heartbeats == nullptr) route_options.heartbeats = &heartbeats;
    install_health_routes(server, health, readiness, route_options);
    server.start();
  }
  ~Endpoints() { server.stop(); }

  testing::ManualClock clock;  // heartbeat ages move only when a test advances it
  HeartbeatRegistry heartbeats{clock.function()};
  HealthChecker health;
  ReadinessChecker readiness;
  server::HttpServer server;
};

TEST(HealthRoutes, HealthAnswers200WhileHealthyAnd503WhenACriticalCheckFails) {
  Endpoints endpoints;
  std::atomic<bool> database_up{true};
  endpoints.health.add_check(
      "database", [&] { return database_up.load(); }, options(2s, 0ms));
  endpoints.health.add_check(
      "panel", [] { return CheckResult::unhealthy("HTTP 502"); }, options(2s, 0ms, false));

  auto degraded = get(endpoints.server, "/health");
  EXPECT_EQ(degraded.status, 200);
  EXPECT_EQ(content_type(degraded), "application/json");
  EXPECT_EQ(degraded.headers.get("Cache-Control").value_or(""), "no-store");
  Json body = test_json::parse(degraded.body);
  EXPECT_EQ(body["status"].string, "degraded");
  EXPECT_EQ(body["checks"]["panel"]["message"].string, "HTTP 502");

  database_up = false;
  auto down = get(endpoints.server, "/health");
  EXPECT_EQ(down.status, 503);
  EXPECT_EQ(test_json::parse(down.body)["status"].string, "unhealthy");
  EXPECT_EQ(test_json::parse(down.body)["checks"]["database"]["message"].string,
            "check returned false");

  auto head = get(endpoints.server, "/health", {}, "HEAD");
  EXPECT_EQ(head.status, 503);
  EXPECT_TRUE(head.body.empty());
}

TEST(HealthRoutes, HealthJsonWhenAcceptAsksForIt) {
  Endpoints endpoints;
  endpoints.health.add_check(
      "redis", [] { return CheckResult::unhealthy("refused"); }, options(2s, 0ms));
  auto response = get(endpoints.server, "/health", {{"Accept", "application/health+json"}});
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(content_type(response), "application/health+json");
  Json body = test_json::parse(response.body);
  EXPECT_EQ(body["status"].string, "fail");
  EXPECT_EQ(body["checks"]["redis:responseTime"][0]["output"].string, "refused");
}

TEST(HealthRoutes, BearerTokenHidesDetailsFromUnauthenticatedCallers) {
  HealthRouteOptions route_options;
  route_options.auth_token = "t0ken-for-details";
  Endpoints endpoints(route_options);
  endpoints.health.add_check("database", [] { return CheckResult::healthy("internal detail"); });
  endpoints.readiness.add_check("migrations", [] {});
  endpoints.readiness.mark_started();
  endpoints.heartbeats.heartbeat("bot_loop", 60s);

  auto anonymous = get(endpoints.server, "/health");
  EXPECT_EQ(anonymous.status, 200);
  EXPECT_EQ(test_json::parse(anonymous.body).keys(), std::vector<std::string>{"status"});
  EXPECT_EQ(anonymous.body.find("internal detail"), std::string::npos);
  EXPECT_EQ(anonymous.headers.get("Vary").value_or(""), "Accept, Authorization");

  auto wrong = get(endpoints.server, "/health", {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(test_json::parse(wrong.body).keys(), std::vector<std::string>{"status"});

  auto authorized =
      get(endpoints.server, "/health", {{"Authorization", "Bearer t0ken-for-details"}});
  EXPECT_EQ(test_json::parse(authorized.body)["checks"]["database"]["message"].string,
            "internal detail");

  auto anonymous_ietf = get(endpoints.server, "/health", {{"Accept", "application/health+json"}});
  EXPECT_EQ(anonymous_ietf.body, R"({"status":"pass"})");

  auto ready = get(endpoints.server, "/ready");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, R"({"ready":true})");
  auto ready_details =
      get(endpoints.server, "/ready", {{"Authorization", "Bearer t0ken-for-details"}});
  EXPECT_TRUE(test_json::parse(ready_details.body)["checks"].has("migrations"));

  auto live = get(endpoints.server, "/live");
  EXPECT_FALSE(test_json::parse(live.body).has("heartbeats"));
  auto live_details =
      get(endpoints.server, "/live", {{"Authorization", "Bearer t0ken-for-details"}});
  EXPECT_TRUE(test_json::parse(live_details.body)["heartbeats"].has("bot_loop"));
}

TEST(HealthRoutes, ReadyFollowsStartupChecksAndDrain) {
  Endpoints endpoints;
  std::atomic<bool> cache_up{true};
  std::atomic<int> runs{0};
  endpoints.readiness.add_check(
      "cache",
      [&] {
        ++runs;
        return cache_up.load();
      },
      options(2s, 0ms));

  auto before_start = get(endpoints.server, "/ready");
  EXPECT_EQ(before_start.status, 503);
  Json body = test_json::parse(before_start.body);
  EXPECT_FALSE(body["ready"].boolean);
  EXPECT_FALSE(body["started"].boolean);

  endpoints.readiness.mark_started();
  auto ready = get(endpoints.server, "/ready");
  EXPECT_EQ(ready.status, 200);
  EXPECT_TRUE(test_json::parse(ready.body)["ready"].boolean);

  cache_up = false;
  auto cache_down = get(endpoints.server, "/ready");
  EXPECT_EQ(cache_down.status, 503);
  EXPECT_EQ(test_json::parse(cache_down.body)["checks"]["cache"]["status"].string, "unhealthy");

  cache_up = true;
  endpoints.readiness.begin_drain();
  const int runs_before = runs.load();
  auto draining = get(endpoints.server, "/ready");
  EXPECT_EQ(draining.status, 503);
  body = test_json::parse(draining.body);
  EXPECT_TRUE(body["draining"].boolean);
  EXPECT_TRUE(body["checks"].object.empty());
  EXPECT_EQ(runs.load(), runs_before);
  // Everything else keeps serving during the drain.
  EXPECT_EQ(get(endpoints.server, "/live").status, 200);
  EXPECT_EQ(get(endpoints.server, "/health").status, 200);
}

TEST(HealthRoutes, LiveTurns503WhenAHeartbeatStalls) {
  Endpoints endpoints;
  auto alive = get(endpoints.server, "/live");
  EXPECT_EQ(alive.status, 200);
  Json body = test_json::parse(alive.body);
  EXPECT_EQ(body["status"].string, "alive");
  EXPECT_GT(body["uptime_seconds"].number, 0);

  Heartbeat& loop = endpoints.heartbeats.heartbeat("bot_loop", 100ms);
  EXPECT_EQ(get(endpoints.server, "/live").status, 200);
  endpoints.clock.advance(200ms);
  auto stalled = get(endpoints.server, "/live");
  EXPECT_EQ(stalled.status, 503);
  body = test_json::parse(stalled.body);
  EXPECT_EQ(body["status"].string, "stalled");
  EXPECT_TRUE(body["heartbeats"]["bot_loop"]["stale"].boolean);
  EXPECT_NEAR(body["heartbeats"]["bot_loop"]["age_seconds"].number, 0.2, 1e-3);
  EXPECT_DOUBLE_EQ(body["heartbeats"]["bot_loop"]["max_age_seconds"].number, 0.1);

  loop.beat();
  EXPECT_EQ(get(endpoints.server, "/live").status, 200);
  endpoints.clock.advance(200ms);
  EXPECT_EQ(get(endpoints.server, "/live").status, 503);
  EXPECT_TRUE(endpoints.heartbeats.remove("bot_loop"));  // the loop ended on purpose
  EXPECT_EQ(get(endpoints.server, "/live").status, 200);
}

TEST(HealthRoutes, HungCheckNeitherBlocksTheServerNorDelaysHealthPastItsTimeout) {
  // One server thread: if checks ran on it, /live would wait behind /health.
  Endpoints endpoints({}, 1);
  auto gate = std::make_shared<Gate>();
  endpoints.health.add_check(
      "redis", [gate] { return gate->wait(); }, options(800ms, 0ms));

  std::atomic<bool> health_done{false};
  auto health = std::async(std::launch::async, [&] {
    auto response = get(endpoints.server, "/health");
    health_done = true;
    return response;
  });
  // /health is waiting on the hung run, holding no server thread.
  ASSERT_TRUE(testing::eventually([&] { return endpoints.health.stats().requests_waiting == 1; }));
  auto live = get(endpoints.server, "/live");
  EXPECT_EQ(live.status, 200);
  EXPECT_FALSE(health_done.load()) << "/live should not have waited for the hung check";

  auto response = health.get();
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(test_json::parse(response.body)["checks"]["redis"]["message"].string,
            "timeout after 800 ms");
  gate->open();
}

TEST(HealthRoutes, RoutesOutliveTheCheckerObjects) {
  server::HttpServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  server::HttpServer server(o);
  {
    HealthChecker health(quiet());
    ReadinessChecker readiness(quiet());
    health.add_check("database", [] {});
    install_health_routes(server, health, readiness);
    server.start();
    EXPECT_EQ(get(server, "/health").status, 200);
  }
  auto after = get(server, "/health");
  EXPECT_EQ(after.status, 503);
  EXPECT_EQ(test_json::parse(after.body)["checks"]["database"]["message"].string,
            "checker stopped");
  server.stop();
}

}  // namespace
}  // namespace monitoring::health
