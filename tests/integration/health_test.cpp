// Health, readiness and liveness against real servers: PostgreSQL and Redis started by
// tests/fixtures, local HTTP peers for Telegram, the panel and payment providers, and a TCP
// peer that accepts and never answers.

#include "monitoring/health.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <future>
#include <memory>
#include <thread>

#include "integration/fixture.hpp"
#include "monitoring/metrics/registry.hpp"
#include "monitoring/monitor.hpp"
#include "monitoring/monitor/default_checks.hpp"
#include "support/json_reader.hpp"
#include "support/local_http_peer.hpp"

namespace monitoring::health {
namespace {

using namespace std::chrono_literals;
using testing::CannedAnswer;
using testing::Fixture;
using testing::http_answer;
using Json = test_json::Value;
using testing::LocalHttpPeer;
using testing::RecordedRequest;

constexpr std::string_view kPgPassword = "pg-Secret:42@x";
constexpr std::string_view kRedisPassword = "redis-S3cret!";
constexpr std::string_view kToken = "987654321:AAFakeTokenForIntegrationTests_abcdefgh";
constexpr std::string_view kTokenSecret = "AAFakeTokenForIntegrationTests_abcdefgh";

/// Runs SQL through psql as the test's database user.
void sql(const std::string& url, const std::string& statement) {
  auto result =
      testing::run_process({"/usr/lib/postgresql/15/bin/psql", url, "-v", "ON_ERROR_STOP=1", "-qAt",
                            "-c", "SET client_min_messages TO warning; " + statement});
  ASSERT_EQ(result.exit_code, 0) << statement << "\n" << result.output;
}

LocalHttpPeer answering(int status, std::string body = "{}") {
  return LocalHttpPeer(
      [=](const RecordedRequest&) { return CannedAnswer{http_answer(status, "Status", body)}; });
}

LocalHttpPeer silent_peer() {
  return LocalHttpPeer([](const RecordedRequest&) { return CannedAnswer{{}, true}; });
}

common::HttpResponse get(const server::HttpServer& server, std::string_view path,
                         std::chrono::milliseconds timeout = 15s) {
  return testing::http_get("http://127.0.0.1:" + std::to_string(server.port()) + std::string(path),
                           timeout);
}

std::unique_ptr<server::HttpServer> start_server(HealthChecker& health,
                                                 ReadinessChecker& readiness) {
  server::HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  auto server = std::make_unique<server::HttpServer>(options);
  install_health_routes(*server, health, readiness);
  server->start();
  return server;
}

/// Background refresh fast enough for tests; the real defaults are 5 s / 15 s.
DefaultChecksOptions fast_refresh() {
  DefaultChecksOptions timing;
  timing.timeout = 1500ms;
  timing.dependency_interval = 200ms;
  timing.external_interval = 200ms;
  return timing;
}

CheckerOptions no_metrics() {
  CheckerOptions options;
  options.export_metrics = false;
  return options;
}

// PostgreSQL and Redis start on first use (ctest runs every test in its own process, so a
// test that needs neither should not pay for them) and stop with the suite.
class HealthIntegration : public ::testing::Test {
 protected:
  static void TearDownTestSuite() {
    postgres_.reset();
    redis_.reset();
  }

  static Fixture& postgres() {
    if (!postgres_)
      postgres_ = std::make_unique<Fixture>("postgres.sh", "--password", std::string(kPgPassword),
                                            "--database", "bot", "--user", "bot");
    return *postgres_;
  }
  static Fixture& redis() {
    if (!redis_)
      redis_ = std::make_unique<Fixture>("redis.sh", "--password", std::string(kRedisPassword));
    return *redis_;
  }

  static std::string database_url() { return postgres().value("URL"); }
  /// Database 2, to exercise SELECT.
  static std::string redis_url(int port = 0) {
    return "redis://:" + common::percent_encode(kRedisPassword) +
           "@127.0.0.1:" + std::to_string(port == 0 ? redis().port() : port) + "/2";
  }

  static std::unique_ptr<Fixture> postgres_;
  static std::unique_ptr<Fixture> redis_;
};

std::unique_ptr<Fixture> HealthIntegration::postgres_;
std::unique_ptr<Fixture> HealthIntegration::redis_;

TEST_F(HealthIntegration, EverythingUpIsHealthyAndReadyOnceStartedAndMigrated) {
  auto telegram = answering(
      200, R"({"ok":true,"result":{"id":987654321,"is_bot":true,"username":"shop_bot"}})");
  auto panel = answering(200);
  auto yookassa = answering(200);
  auto cryptopay = answering(404);  // any answer below 500 means up

  MonitoringConfig config;
  config.database_url = database_url();
  config.redis_url = redis_url();
  config.telegram_token = std::string(kToken);
  config.telegram_api_url = telegram.url("");
  config.panel_url = panel.url("/api/health");
  config.payment_systems = {{"yookassa", yookassa.url("/")}, {"cryptopay", cryptopay.url("/")}};
  sql(config.database_url, "DROP TABLE IF EXISTS alembic_version");

  HealthChecker health = monitoring::default_health_checker(config, {}, fast_refresh());
  ReadinessChecker readiness = monitoring::default_readiness_checker(config, {}, fast_refresh());
  auto server = start_server(health, readiness);

  auto response = get(*server, "/health");
  ASSERT_EQ(response.status, 200) << response.body;
  Json body = test_json::parse(response.body);
  EXPECT_EQ(body["status"].string, "healthy");
  EXPECT_EQ(body["checks"].keys(),
            (std::vector<std::string>{"database", "redis", "telegram", "panel", "payment:cryptopay",
                                      "payment:yookassa"}));
  EXPECT_EQ(body["checks"]["database"]["message"].string.rfind("ok (PostgreSQL 15.", 0), 0u)
      << body["checks"]["database"]["message"].string;
  EXPECT_TRUE(body["checks"]["database"]["critical"].boolean);
  EXPECT_EQ(body["checks"]["redis"]["message"].string,
            "ok (PONG from 127.0.0.1:" + std::to_string(redis().port()) + ")");
  EXPECT_EQ(body["checks"]["telegram"]["message"].string, "ok (@shop_bot)");
  EXPECT_FALSE(body["checks"]["telegram"]["critical"].boolean);
  EXPECT_EQ(body["checks"]["payment:cryptopay"]["message"].string, "HTTP 404");
  EXPECT_EQ(response.body.find(kTokenSecret), std::string::npos);
  EXPECT_EQ(response.body.find(kPgPassword), std::string::npos);

  auto& status = metrics::Registry::default_registry().gauge(
      "health_check_status", "Result of the last run of a health check: 1 healthy, 0 not",
      {"check"});
  EXPECT_EQ(status.labels("database").value(), 1.0);
  EXPECT_EQ(status.labels("redis").value(), 1.0);

  // Not ready: startup is not complete and no migration is recorded.
  auto not_ready = get(*server, "/ready");
  EXPECT_EQ(not_ready.status, 503);
  Json ready_body = test_json::parse(not_ready.body);
  EXPECT_FALSE(ready_body["started"].boolean);
  EXPECT_EQ(ready_body["checks"]["migrations"]["message"].string,
            "migrations table alembic_version does not exist");
  EXPECT_EQ(ready_body["checks"]["cache"]["status"].string, "healthy");
  EXPECT_EQ(ready_body["checks"]["connections"]["status"].string, "healthy");

  sql(config.database_url,
      "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY); "
      "INSERT INTO alembic_version VALUES ('4f2e9a1c7b3d')");
  readiness.mark_started();
  EXPECT_TRUE(
      testing::eventually([&] { return get(*server, "/ready").status == 200; }, 10s, 100ms));
  Json ready_now = test_json::parse(get(*server, "/ready").body);
  EXPECT_EQ(ready_now["checks"]["migrations"]["message"].string,
            "alembic: at revision 4f2e9a1c7b3d");

  // Draining: /ready 503 at once, the rest keeps serving.
  readiness.begin_drain();
  EXPECT_EQ(get(*server, "/ready").status, 503);
  EXPECT_EQ(get(*server, "/health").status, 200);
  EXPECT_EQ(get(*server, "/live").status, 200);
  server->stop();
  sql(config.database_url, "DROP TABLE alembic_version");
}

TEST_F(HealthIntegration, RedisKilledIsUnhealthyAndRecoversWhenRestarted) {
  auto own_redis = std::make_unique<Fixture>("redis.sh", "--password", std::string(kRedisPassword));
  const int port = own_redis->port();
  MonitoringConfig config;
  config.redis_url = redis_url(port);
  HealthChecker health = monitoring::default_health_checker(config, no_metrics(), fast_refresh());
  ReadinessChecker readiness =
      monitoring::default_readiness_checker(config, no_metrics(), fast_refresh());
  readiness.mark_started();
  auto server = start_server(health, readiness);
  ASSERT_EQ(get(*server, "/health").status, 200);
  ASSERT_EQ(get(*server, "/ready").status, 200);

  ASSERT_EQ(::kill(own_redis->pid(), SIGKILL), 0);
  const auto killed_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(
      testing::eventually([&] { return get(*server, "/health").status == 503; }, 10s, 50ms));
  // Within the refresh interval plus one check timeout (generous bound: shared CI machines).
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, 5s);
  // A check in flight at the kill fails on its half-done exchange ("AUTH failed: ..."); the
  // next one is refused at connect, which is what an operator sees from then on.
  const std::string refused = "connection to 127.0.0.1:" + std::to_string(port);
  Json body;
  EXPECT_TRUE(testing::eventually(
      [&] {
        body = test_json::parse(get(*server, "/health").body);
        return body["checks"]["redis"]["message"].string.find(refused) != std::string::npos;
      },
      10s, 50ms))
      << body["checks"]["redis"]["message"].string;
  EXPECT_EQ(body["status"].string, "unhealthy");
  EXPECT_EQ(body["checks"]["redis"]["status"].string, "unhealthy");
  EXPECT_TRUE(testing::eventually([&] { return get(*server, "/ready").status == 503; }, 10s, 50ms));
  EXPECT_EQ(test_json::parse(get(*server, "/ready").body)["checks"]["cache"]["status"].string,
            "unhealthy");
  EXPECT_EQ(get(*server, "/live").status, 200);
  own_redis->stop();

  // A new server on the same port: everything recovers without touching the checkers.
  auto restarted = std::make_unique<Fixture>("redis.sh", "--password", std::string(kRedisPassword),
                                             "--port", std::to_string(port));
  EXPECT_TRUE(
      testing::eventually([&] { return get(*server, "/health").status == 200; }, 10s, 50ms));
  EXPECT_TRUE(testing::eventually([&] { return get(*server, "/ready").status == 200; }, 10s, 50ms));
  server->stop();
}

TEST_F(HealthIntegration, PeerThatAcceptsAndNeverAnswersCostsOnlyTheTimeout) {
  auto hung_database = silent_peer();
  auto hung_redis = silent_peer();
  HealthChecker health(no_metrics());
  CheckOptions options;
  options.timeout = 1000ms;
  options.cache_ttl = 0ms;
  health.add_check(
      "database",
      postgres_check("postgresql://bot:" + common::percent_encode(kPgPassword) +
                     "@127.0.0.1:" + std::to_string(hung_database.port()) + "/bot?sslmode=disable"),
      options);
  health.add_check("redis", redis_check("redis://127.0.0.1:" + std::to_string(hung_redis.port())),
                   options);
  health.add_check(
      "healthy_neighbour", [] {}, options);
  ReadinessChecker readiness(no_metrics());
  auto server = start_server(health, readiness);

  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    // /live is asked while /health waits on a hung peer. (A check whose abandoned call has not
    // come back yet answers from its cache, so only one of the two may have a run to wait on.)
    auto live_during = std::async(std::launch::async, [&] {
      EXPECT_TRUE(testing::eventually([&] { return health.stats().requests_waiting >= 1; }));
      return get(*server, "/live").status;
    });
    const auto start = std::chrono::steady_clock::now();
    auto response = get(*server, "/health");
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(response.status, 503);
    Json body = test_json::parse(response.body);
    for (const char* name : {"database", "redis"}) {
      EXPECT_EQ(body["checks"][name]["status"].string, "unhealthy") << name;
      EXPECT_NE(body["checks"][name]["message"].string.find("time"), std::string::npos)
          << body["checks"][name]["message"].string;
    }
    EXPECT_EQ(body["checks"]["healthy_neighbour"]["status"].string, "healthy");
    EXPECT_EQ(response.body.find(kPgPassword), std::string::npos);
    EXPECT_GE(elapsed, 900ms);
    EXPECT_LT(elapsed, 1000ms + 1500ms);  // timeout + 100 ms is the target; slack for shared CI
    EXPECT_EQ(live_during.get(), 200);
  }
  server->stop();
}

TEST_F(HealthIntegration, MigrationStateDecidesReadiness) {
  const std::string url = database_url();
  sql(url,
      "DROP SCHEMA IF EXISTS gm CASCADE; DROP SCHEMA IF EXISTS fw CASCADE; DROP SCHEMA IF EXISTS "
      "al CASCADE;"
      "CREATE SCHEMA gm; CREATE TABLE gm.schema_migrations (version bigint NOT NULL PRIMARY KEY, "
      "dirty boolean NOT NULL);"
      "INSERT INTO gm.schema_migrations VALUES (20240105120000, false);"
      "CREATE SCHEMA fw; CREATE TABLE fw.flyway_schema_history (installed_rank int PRIMARY KEY, "
      "version varchar(50),"
      " description varchar(200), type varchar(20), script varchar(1000), checksum int, "
      "installed_by varchar(100),"
      " installed_on timestamp DEFAULT now(), execution_time int, success boolean NOT NULL);"
      "INSERT INTO fw.flyway_schema_history (installed_rank, version, description, type, script, "
      "installed_by,"
      " execution_time, success) VALUES (1, '1', 'init', 'SQL', 'V1__init.sql', 'bot', 5, true),"
      " (2, '1.1', 'users', 'SQL', 'V1_1__users.sql', 'bot', 5, true),"
      " (3, NULL, 'views', 'SQL', 'R__views.sql', 'bot', 5, true);"
      "CREATE SCHEMA al; CREATE TABLE al.alembic_version (version_num varchar(32) PRIMARY KEY);"
      "INSERT INTO al.alembic_version VALUES ('ae1027a6acf');");
  auto run = [&](const std::string& table, const std::string& expected) {
    return migrations_check(url, table,
                            expected)(CheckContext{std::chrono::steady_clock::now() + 5s});
  };

  // golang-migrate: behind, current, ahead, dirty.
  EXPECT_EQ(run("gm.schema_migrations", "").status, Status::healthy);
  EXPECT_EQ(run("gm.schema_migrations", "20240105120000").status, Status::healthy);
  EXPECT_EQ(run("gm.schema_migrations", "20240101000000").status, Status::healthy);
  CheckResult behind = run("gm.schema_migrations", "20240201000000");
  EXPECT_EQ(behind.status, Status::unhealthy);
  EXPECT_EQ(behind.message,
            "golang-migrate: at version 20240105120000, expected at least 20240201000000");
  sql(url, "UPDATE gm.schema_migrations SET dirty = true");
  CheckResult dirty = run("gm.schema_migrations", "");
  EXPECT_EQ(dirty.status, Status::unhealthy);
  EXPECT_NE(dirty.message.find("dirty"), std::string::npos) << dirty.message;

  // Flyway: versions compare numerically per part; a failed migration blocks readiness.
  EXPECT_EQ(run("fw.flyway_schema_history", "1.1").message, "flyway: at version 1.1");
  EXPECT_EQ(run("fw.flyway_schema_history", "1.2").status, Status::unhealthy);
  sql(url,
      "INSERT INTO fw.flyway_schema_history (installed_rank, version, description, type, script,"
      " installed_by, execution_time, success) VALUES (4, '1.2', 'orders', 'SQL', "
      "'V1_2__orders.sql', 'bot', 5, false)");
  EXPECT_EQ(run("fw.flyway_schema_history", "").message, "flyway: migration 1.2 failed");

  // Alembic revisions are not ordered: the expected one must be the current head.
  EXPECT_EQ(run("al.alembic_version", "ae1027a6acf").status, Status::healthy);
  EXPECT_EQ(run("al.alembic_version", "1975ea83b712").message,
            "alembic: at revision ae1027a6acf, expected 1975ea83b712");
  sql(url, "DELETE FROM al.alembic_version");
  EXPECT_EQ(run("al.alembic_version", "").status, Status::unhealthy);
  EXPECT_EQ(run("missing_table", "").message, "migrations table missing_table does not exist");

  // Through the readiness checker and /ready, as configured from the environment.
  MonitoringConfig config;
  config.database_url = url;
  config.migrations_table = "gm.schema_migrations";
  ReadinessChecker readiness =
      monitoring::default_readiness_checker(config, no_metrics(), fast_refresh());
  readiness.mark_started();
  HealthChecker health(no_metrics());
  auto server = start_server(health, readiness);
  auto response = get(*server, "/ready");
  EXPECT_EQ(response.status, 503);
  EXPECT_NE(test_json::parse(response.body)["checks"]["migrations"]["message"].string.find("dirty"),
            std::string::npos);
  sql(url, "UPDATE gm.schema_migrations SET dirty = false");
  EXPECT_TRUE(
      testing::eventually([&] { return get(*server, "/ready").status == 200; }, 10s, 100ms));
  server->stop();
  sql(url, "DROP SCHEMA gm CASCADE; DROP SCHEMA fw CASCADE; DROP SCHEMA al CASCADE");
}

TEST_F(HealthIntegration, ThirdPartyPeersDegradeButNeverFailTheService) {
  auto telegram = answering(401, R"({"ok":false,"error_code":401,"description":"Unauthorized"})");
  auto panel = silent_peer();
  auto yookassa = answering(500);
  auto cryptopay = answering(429);
  MonitoringConfig config;
  config.redis_url = redis_url();
  config.telegram_token = std::string(kToken);
  config.telegram_api_url = telegram.url("");
  config.panel_url = panel.url("/");
  config.payment_systems = {{"yookassa", yookassa.url("/")}, {"cryptopay", cryptopay.url("/")}};
  HealthChecker health = monitoring::default_health_checker(config, {}, fast_refresh());
  ReadinessChecker readiness(no_metrics());
  auto server = start_server(health, readiness);

  auto response = get(*server, "/health");
  EXPECT_EQ(response.status, 200);
  Json body = test_json::parse(response.body);
  EXPECT_EQ(body["status"].string, "degraded");
  EXPECT_EQ(body["checks"]["redis"]["status"].string, "healthy");
  EXPECT_EQ(body["checks"]["telegram"]["message"].string, "invalid token (HTTP 401)");
  EXPECT_EQ(body["checks"]["panel"]["status"].string, "unhealthy");
  EXPECT_EQ(body["checks"]["payment:yookassa"]["message"].string, "HTTP 500");
  EXPECT_EQ(body["checks"]["payment:cryptopay"]["status"].string, "healthy");
  EXPECT_EQ(response.body.find(kTokenSecret), std::string::npos);
  ASSERT_FALSE(telegram.requests().empty());
  EXPECT_EQ(telegram.requests()[0].target, "/bot" + std::string(kToken) + "/getMe");

  auto& availability = metrics::Registry::default_registry().gauge(
      "payment_system_availability", "Payment system availability (1 up, 0 down).",
      {"payment_system"});
  EXPECT_EQ(availability.labels("yookassa").value(), 0.0);
  EXPECT_EQ(availability.labels("cryptopay").value(), 1.0);

  auto ietf =
      testing::http_get("http://127.0.0.1:" + std::to_string(server->port()) + "/health", 15s, [] {
        common::HttpHeaders headers;
        headers.add("Accept", "application/health+json");
        return headers;
      }());
  Json ietf_body = test_json::parse(ietf.body);
  EXPECT_EQ(ietf_body["status"].string, "warn");
  EXPECT_EQ(ietf_body["checks"]["payment:responseTime"].array.size(), 2u);
  server->stop();
}

TEST_F(HealthIntegration, WrongCredentialsAreReportedWithoutEchoingThem) {
  const std::string wrong_pg =
      "postgresql://bot:Wrong-Pg-Pass@127.0.0.1:" + std::to_string(postgres().port()) + "/bot";
  const std::string wrong_redis =
      "redis://:Wrong-Redis-Pass@127.0.0.1:" + std::to_string(redis().port()) + "/2";
  const CheckContext context{std::chrono::steady_clock::now() + 5s};
  CheckResult database;
  try {
    database = postgres_check(wrong_pg)(context);
  } catch (const std::exception& error) {
    database = CheckResult::unhealthy(error.what());
  }
  EXPECT_NE(database.message.find("password authentication failed"), std::string::npos)
      << database.message;
  EXPECT_EQ(database.message.find("Wrong-Pg-Pass"), std::string::npos);
  CheckResult cache = redis_check(wrong_redis)(context);
  EXPECT_EQ(cache.status, Status::unhealthy);
  EXPECT_NE(cache.message.find("AUTH failed"), std::string::npos) << cache.message;
  EXPECT_EQ(cache.message.find("Wrong-Redis-Pass"), std::string::npos);
  CheckResult no_auth = redis_check("redis://127.0.0.1:" + std::to_string(redis().port()))(context);
  EXPECT_NE(no_auth.message.find("NOAUTH"), std::string::npos) << no_auth.message;
}

}  // namespace
}  // namespace monitoring::health
