#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "net/http_client.hpp"
#include "support/http_client.hpp"
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

// ---- Probe detail: ?verbose, ?exclude, /health/<check> ----

/// Two checks on /health and one on /ready: database passes, redis fails critically, and
/// every redis run is counted so a test can tell whether it ran.
struct ProbeEndpoints : Endpoints {
  explicit ProbeEndpoints(HealthRouteOptions route_options = {}) : Endpoints(route_options) {
    health.add_check(
        "database", [] { return CheckResult::healthy("12 connections"); }, options(2s, 0ms));
    health.add_check(
        "redis",
        [this] {
          ++redis_runs;
          return CheckResult::unhealthy("connection refused\nauth with password=hunter2-s3cret");
        },
        options(2s, 0ms));
    readiness.add_check(
        "migrations", [] {}, options(2s, 0ms));
  }
  std::atomic<int> redis_runs{0};
};

TEST(ProbeDetail, VerboseListsEveryCheckThenTheVerdictAsPlainText) {
  ProbeEndpoints endpoints;
  auto response = get(endpoints.server, "/health?verbose");
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(content_type(response), "text/plain; charset=utf-8");
  EXPECT_EQ(response.headers.get("Cache-Control").value_or(""), "no-store");
  EXPECT_EQ(response.body,
            "[+]database ok\n"
            "[-]redis failed: connection refused auth with password=[Filtered]\n"
            "health check failed\n");
  // verbose=0 / verbose=false keep the JSON form.
  EXPECT_EQ(content_type(get(endpoints.server, "/health?verbose=0")), "application/json");
  EXPECT_EQ(content_type(get(endpoints.server, "/health?verbose=false")), "application/json");
  EXPECT_EQ(content_type(get(endpoints.server, "/health?verbose=1")), "text/plain; charset=utf-8");
}

TEST(ProbeDetail, ExcludedChecksAreNeitherRunNorCounted) {
  ProbeEndpoints endpoints;
  const int runs_before = endpoints.redis_runs.load();
  auto json = get(endpoints.server, "/health?exclude=redis&unknown=param");
  EXPECT_EQ(json.status, 200);
  Json body = test_json::parse(json.body);
  EXPECT_EQ(body["status"].string, "healthy");
  EXPECT_EQ(body["checks"].keys(), std::vector<std::string>{"database"});
  EXPECT_EQ(endpoints.redis_runs.load(), runs_before);

  auto text = get(endpoints.server, "/health?verbose&exclude=redis&exclude=nope&exclude=");
  EXPECT_EQ(text.status, 200);
  EXPECT_EQ(text.body,
            "[+]database ok\n"
            "warn: some health checks cannot be excluded: no matches for \"nope\"\n"
            "health check passed\n");
  EXPECT_EQ(endpoints.redis_runs.load(), runs_before);

  // An empty exclude= excludes nothing; a percent-encoded name is decoded.
  EXPECT_EQ(get(endpoints.server, "/health?exclude=").status, 503);
  EXPECT_EQ(get(endpoints.server, "/health?exclude=r%65dis").status, 200);
}

TEST(ProbeDetail, OneCheckByPathAnswersWithItsOwnStatus) {
  ProbeEndpoints endpoints;
  auto database = get(endpoints.server, "/health/database");
  EXPECT_EQ(database.status, 200);
  EXPECT_EQ(test_json::parse(database.body)["checks"].keys(), std::vector<std::string>{"database"});
  const int runs_before = endpoints.redis_runs.load();
  get(endpoints.server, "/health/database");
  EXPECT_EQ(endpoints.redis_runs.load(), runs_before);  // the other checks are not run

  auto redis = get(endpoints.server, "/health/redis", {{"Accept", "application/health+json"}});
  EXPECT_EQ(redis.status, 503);
  EXPECT_EQ(content_type(redis), "application/health+json");
  EXPECT_EQ(test_json::parse(redis.body)["status"].string, "fail");

  auto text = get(endpoints.server, "/health/redis?verbose");
  EXPECT_EQ(text.body,
            "[-]redis failed: connection refused auth with password=[Filtered]\n"
            "health check failed\n");
  // Percent-encoding in the path is decoded.
  EXPECT_EQ(get(endpoints.server, "/health/data%62ase").status, 200);
  // A trailing slash is the probe itself.
  auto whole = get(endpoints.server, "/health/");
  EXPECT_EQ(whole.status, 503);
  EXPECT_EQ(test_json::parse(whole.body)["checks"].keys(),
            (std::vector<std::string>{"database", "redis"}));
}

TEST(ProbeDetail, UnknownOrHostileCheckNamesGet404NamingThem) {
  ProbeEndpoints endpoints;
  auto unknown = get(endpoints.server, "/health/kafka");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(test_json::parse(unknown.body)["error"].string, "no health check named \"kafka\"");
  auto text = get(endpoints.server, "/ready/kafka?verbose");
  EXPECT_EQ(text.status, 404);
  EXPECT_EQ(text.body, "no health check named \"kafka\"\n");

  const std::uint16_t port = endpoints.server.port();
  for (const std::string path : {"/health/../metrics", "/health/..%2Fmetrics", "/health/%2e%2e",
                                 "/health/database/", "/health/a/b", "/health/%zz"}) {
    const auto response = monitoring::testing::raw_get(port, path);
    EXPECT_EQ(response.status, 404) << path;
  }
  // Control bytes are not echoed; a long name is cut.
  auto nul = monitoring::testing::raw_get(port, "/health/a%00%0Ab?verbose");
  EXPECT_EQ(nul.status, 404);
  EXPECT_EQ(nul.body, "no health check named \"a??b\"\n");
  auto long_name =
      monitoring::testing::raw_get(port, "/health/" + std::string(4000, 'x') + "?verbose");
  EXPECT_EQ(long_name.status, 404);
  EXPECT_LT(long_name.body.size(), 200u);
}

TEST(ProbeDetail, WithoutTheTokenVerboseShowsNamesAndVerdictsButNoMessages) {
  HealthRouteOptions route_options;
  route_options.auth_token = "t0ken-for-details";
  ProbeEndpoints endpoints(route_options);
  auto anonymous = get(endpoints.server, "/health?verbose");
  EXPECT_EQ(anonymous.status, 503);
  EXPECT_EQ(anonymous.body,
            "[+]database ok\n"
            "[-]redis failed: reason withheld\n"
            "health check failed\n");
  EXPECT_EQ(anonymous.headers.get("Vary").value_or(""), "Accept, Authorization");
  auto one = get(endpoints.server, "/health/redis");
  EXPECT_EQ(one.status, 503);
  EXPECT_EQ(test_json::parse(one.body).keys(), std::vector<std::string>{"status"});

  auto authorized =
      get(endpoints.server, "/health?verbose", {{"Authorization", "Bearer t0ken-for-details"}});
  EXPECT_NE(authorized.body.find("connection refused"), std::string::npos);
  for (const auto& body : {anonymous.body, one.body, authorized.body})
    EXPECT_EQ(body.find("hunter2"), std::string::npos);
}

TEST(ProbeDetail, ReadyVerboseShowsStartupDrainAndChecks) {
  ProbeEndpoints endpoints;
  auto before = get(endpoints.server, "/ready?verbose");
  EXPECT_EQ(before.status, 503);
  EXPECT_EQ(before.body,
            "[-]started failed: mark_started() not called yet\n"
            "[+]migrations ok\n"
            "readiness check failed\n");
  endpoints.readiness.mark_started();
  auto ready = get(endpoints.server, "/ready?verbose&exclude=ghost");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body,
            "[+]started ok\n"
            "[+]migrations ok\n"
            "warn: some health checks cannot be excluded: no matches for \"ghost\"\n"
            "readiness check passed\n");
  auto one = get(endpoints.server, "/ready/migrations");
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(test_json::parse(one.body)["checks"].keys(), std::vector<std::string>{"migrations"});
  auto excluded = get(endpoints.server, "/ready?exclude=migrations");
  EXPECT_TRUE(test_json::parse(excluded.body)["checks"].object.empty());

  endpoints.readiness.begin_drain();
  auto draining = get(endpoints.server, "/ready?verbose");
  EXPECT_EQ(draining.status, 503);
  EXPECT_EQ(draining.body,
            "[+]started ok\n"
            "[-]draining failed: shutdown began\n"
            "readiness check failed\n");
}

TEST(ProbeDetail, LiveVerboseAndExcludeCoverHeartbeats) {
  Endpoints endpoints;
  endpoints.heartbeats.heartbeat("bot_loop", 100ms);
  endpoints.heartbeats.heartbeat("poller", 10s);
  endpoints.clock.advance(200ms);
  auto stalled = get(endpoints.server, "/live?verbose");
  EXPECT_EQ(stalled.status, 503);
  EXPECT_EQ(stalled.body,
            "[-]bot_loop failed: no heartbeat for 0.200 s (max 0.100 s)\n"
            "[+]poller ok\n"
            "liveness check failed\n");
  auto excluded = get(endpoints.server, "/live?exclude=bot_loop");
  EXPECT_EQ(excluded.status, 200);
  EXPECT_EQ(test_json::parse(excluded.body)["heartbeats"].keys(),
            std::vector<std::string>{"poller"});
}

TEST(ProbeDetail, HugeQueryIsAnsweredAndTheEchoStaysBounded) {
  ProbeEndpoints endpoints;
  std::string query = "/health?verbose";
  for (int i = 0; i < 500; ++i) query += "&exclude=n" + std::to_string(i);
  auto response = get(endpoints.server, query);
  EXPECT_EQ(response.status, 503);
  EXPECT_NE(response.body.find("no matches for \"n0\",\"n1\","), std::string::npos);
  EXPECT_LT(response.body.size(), 600u);
  EXPECT_TRUE(response.body.ends_with(",...\nhealth check failed\n"));
}

}  // namespace
}  // namespace monitoring::health
