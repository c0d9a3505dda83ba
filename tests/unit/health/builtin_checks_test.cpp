#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "health/postgres.hpp"
#include "health/redis.hpp"
#include "health/scrub.hpp"
#include "monitoring/metrics/registry.hpp"
#include "support/local_http_peer.hpp"
#include "test_util.hpp"

namespace monitoring::health {
namespace {

using namespace std::chrono_literals;
using testing::CannedAnswer;
using testing::http_answer;
using testing::LocalHttpPeer;
using testing::RecordedRequest;

constexpr std::string_view kToken = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1";
constexpr std::string_view kTokenSecret = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1";

CheckContext within(std::chrono::milliseconds timeout) {
  return CheckContext{std::chrono::steady_clock::now() + timeout};
}

LocalHttpPeer answering(int status, std::string reason, std::string body,
                        std::vector<std::pair<std::string, std::string>> headers = {}) {
  return LocalHttpPeer([=](const RecordedRequest&) {
    return CannedAnswer{http_answer(status, reason, body, headers)};
  });
}

LocalHttpPeer silent() {
  return LocalHttpPeer([](const RecordedRequest&) { return CannedAnswer{{}, true}; });
}

void expect_no_token(const std::string& text) {
  EXPECT_EQ(text.find(kTokenSecret), std::string::npos) << text;
}

TEST(TelegramCheck, HealthyWhenGetMeSucceeds) {
  auto peer = answering(
      200, "OK", R"({"ok":true,"result":{"id":123456789,"is_bot":true,"username":"shop_bot"}})");
  auto check = telegram_check(std::string(kToken), peer.url(""));
  CheckResult result = check(within(2s));
  EXPECT_EQ(result.status, Status::healthy);
  EXPECT_EQ(result.message, "ok (@shop_bot)");
  ASSERT_EQ(peer.requests().size(), 1u);
  EXPECT_EQ(peer.requests()[0].method, "GET");
  EXPECT_EQ(peer.requests()[0].target, "/bot" + std::string(kToken) + "/getMe");
}

TEST(TelegramCheck, MapsTheBotApiAnswers) {
  struct Case {
    int status;
    std::string reason, body;
    std::vector<std::pair<std::string, std::string>> headers;
    Status expected;
    std::string message;
  };
  const std::vector<Case> cases = {
      {401,
       "Unauthorized",
       R"({"ok":false,"error_code":401,"description":"Unauthorized"})",
       {},
       Status::unhealthy,
       "invalid token (HTTP 401)"},
      {404,
       "Not Found",
       R"({"ok":false,"error_code":404,"description":"Not Found"})",
       {},
       Status::unhealthy,
       "invalid token or API URL (HTTP 404)"},
      {429,
       "Too Many Requests",
       R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}})",
       {},
       Status::degraded,
       "rate limited (HTTP 429, retry after 7 s)"},
      {429,
       "Too Many Requests",
       "{}",
       {{"Retry-After", "30"}},
       Status::degraded,
       "rate limited (HTTP 429, retry after 30 s)"},
      {500, "Internal Server Error", "oops", {}, Status::unhealthy, "HTTP 500"},
      {200,
       "OK",
       R"({"ok":false})",
       {},
       Status::unhealthy,
       "getMe answered 200 without \"ok\":true"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.status);
    auto peer = answering(c.status, c.reason, c.body, c.headers);
    CheckResult result = telegram_check(std::string(kToken), peer.url("/"))(within(2s));
    EXPECT_EQ(result.status, c.expected);
    EXPECT_EQ(result.message, c.message);
  }
}

TEST(TelegramCheck, TokenNeverAppearsInFailures) {
  {
    auto peer = silent();
    CheckResult result = telegram_check(std::string(kToken), peer.url(""))(within(300ms));
    EXPECT_EQ(result.status, Status::unhealthy);
    expect_no_token(result.message);
  }
  {
    const int port = testing::closed_loopback_port();
    CheckResult result =
        telegram_check(std::string(kToken), "http://127.0.0.1:" + std::to_string(port))(within(2s));
    EXPECT_EQ(result.status, Status::unhealthy);
    expect_no_token(result.message);
  }
  // Through a checker and its JSON, with the engine's own timeout.
  auto peer = silent();
  HealthChecker checker(testing::quiet());
  checker.add_check("telegram", telegram_check(std::string(kToken), peer.url("")),
                    testing::options(300ms, 0ms, false));
  HealthReport report = checker.check();
  EXPECT_EQ(report.status, Status::degraded);
  expect_no_token(to_json(report));
  expect_no_token(to_health_json(report));
}

TEST(TelegramCheck, RejectsMalformedSettingsWithoutEchoingTheToken) {
  try {
    telegram_check("123:abc/../../x?y", "https://api.telegram.org");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()).find("abc/"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("TELEGRAM_TOKEN"), std::string::npos);
  }
  EXPECT_THROW(telegram_check("", "https://api.telegram.org"), ConfigError);
  EXPECT_THROW(telegram_check("nocolon", "https://api.telegram.org"), ConfigError);
  try {
    telegram_check(std::string(kToken), "ftp://user:pw@example.com");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("TELEGRAM_API_URL"), std::string::npos);
    EXPECT_EQ(std::string(error.what()).find(":pw@"), std::string::npos) << error.what();
  }
}

// What the HTTP checks tell their observer, recorded for the tests below.
struct ObservedChecks {
  static inline std::atomic<int> panel_answers{0};
  static inline std::mutex mutex;
  static inline std::vector<std::pair<std::string, bool>> payments;
  static void panel_answered(double seconds) noexcept {
    if (seconds >= 0) ++panel_answers;
  }
  static void payment_system_checked(std::string_view name, bool available) noexcept {
    std::lock_guard lock(mutex);
    payments.emplace_back(std::string(name), available);
  }
  static constexpr HttpCheckObserver kObserver{panel_answered, payment_system_checked};
};

// Installs ObservedChecks as the HTTP check observer for one test, and restores the previous
// one (the catalog's, when a test binary links it) afterwards.
class HttpCheckObserverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ObservedChecks::panel_answers = 0;
    ObservedChecks::payments.clear();
    set_http_check_observer(&ObservedChecks::kObserver);
  }
  void TearDown() override { set_http_check_observer(nullptr); }
};

TEST_F(HttpCheckObserverTest, PanelAnyAnswerBelow500IsUpAndLatencyIsObserved) {
  for (auto [status, expected] : std::vector<std::pair<int, Status>>{{200, Status::healthy},
                                                                     {302, Status::healthy},
                                                                     {404, Status::healthy},
                                                                     {401, Status::healthy},
                                                                     {500, Status::unhealthy},
                                                                     {503, Status::unhealthy}}) {
    SCOPED_TRACE(status);
    auto peer = answering(status, "Whatever", "body");
    CheckResult result = panel_check(peer.url("/api/health"))(within(2s));
    EXPECT_EQ(result.status, expected);
    EXPECT_EQ(result.message, "HTTP " + std::to_string(status));
  }
  EXPECT_EQ(ObservedChecks::panel_answers.load(), 6);

  const int port = testing::closed_loopback_port();
  CheckResult refused = panel_check("http://127.0.0.1:" + std::to_string(port) + "/")(within(2s));
  EXPECT_EQ(refused.status, Status::unhealthy);
  EXPECT_EQ(ObservedChecks::panel_answers.load(), 6);  // no answer, no latency

  auto peer = silent();
  CheckResult slow = panel_check(peer.url("/"))(within(300ms));
  EXPECT_EQ(slow.status, Status::unhealthy);
}

TEST_F(HttpCheckObserverTest, PaymentSystemCheckReportsAvailabilityAfterEveryRun) {
  auto up = answering(200, "OK", "fine");
  EXPECT_EQ(payment_system_check("unit_test_pay", up.url("/"))(within(2s)).status, Status::healthy);
  auto down = answering(502, "Bad Gateway", "");
  EXPECT_EQ(payment_system_check("unit_test_pay", down.url("/"))(within(2s)).status,
            Status::unhealthy);
  auto back = answering(200, "OK", "fine");
  payment_system_check("unit_test_pay", back.url("/"))(within(2s));
  const int port = testing::closed_loopback_port();
  payment_system_check("unit_test_pay", "http://127.0.0.1:" + std::to_string(port))(within(2s));
  using Seen = std::vector<std::pair<std::string, bool>>;
  EXPECT_EQ(ObservedChecks::payments, (Seen{{"unit_test_pay", true},
                                            {"unit_test_pay", false},
                                            {"unit_test_pay", true},
                                            {"unit_test_pay", false}}));

  EXPECT_THROW(payment_system_check("bad name", up.url("/")), Error);
  EXPECT_THROW(payment_system_check("yookassa", "not a url"), ConfigError);
}

TEST(RedisUrl, ParsesHostPortDatabaseAndCredentials) {
  auto plain = detail::parse_redis_url("redis://localhost");
  EXPECT_EQ(plain.host, "localhost");
  EXPECT_EQ(plain.port, 6379);
  EXPECT_EQ(plain.db, 0);
  EXPECT_TRUE(plain.password.empty());

  auto full = detail::parse_redis_url("redis://app:p%40ss%3Aword@10.0.0.5:6380/3");
  EXPECT_EQ(full.username, "app");
  EXPECT_EQ(full.password, "p@ss:word");
  EXPECT_EQ(full.host, "10.0.0.5");
  EXPECT_EQ(full.port, 6380);
  EXPECT_EQ(full.db, 3);

  auto password_only = detail::parse_redis_url("redis://:secret@cache:7000/0");
  EXPECT_TRUE(password_only.username.empty());
  EXPECT_EQ(password_only.password, "secret");

  auto v6 = detail::parse_redis_url("redis://[::1]:6390?db=2");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 6390);
  EXPECT_EQ(v6.db, 2);

  auto unix_socket = detail::parse_redis_url("unix:///run/redis/redis.sock?db=5&password=pw");
  EXPECT_EQ(unix_socket.socket_path, "/run/redis/redis.sock");
  EXPECT_EQ(unix_socket.db, 5);
  EXPECT_EQ(unix_socket.password, "pw");
}

TEST(RedisUrl, RejectsWhatItCannotServeWithoutEchoingThePassword) {
  for (const char* url :
       {"rediss://:topsecret@host:6379", "http://:topsecret@host", "redis://:topsecret@host:99999",
        "redis://:topsecret@host:6379/abc", "no-scheme-topsecret", "unix://relative"}) {
    SCOPED_TRACE(url);
    try {
      detail::parse_redis_url(url);
      FAIL() << "expected ConfigError";
    } catch (const ConfigError& error) {
      if (std::string_view(url).find("://") != std::string_view::npos) {
        EXPECT_EQ(std::string(error.what()).find("topsecret"), std::string::npos) << error.what();
      }
    }
  }
}

TEST(RedisCheck, UnreachableOrSilentServerIsUnhealthyWithinTheDeadline) {
  const int port = testing::closed_loopback_port();
  CheckResult refused =
      redis_check("redis://:hunter2hunter@127.0.0.1:" + std::to_string(port))(within(2s));
  EXPECT_EQ(refused.status, Status::unhealthy);
  EXPECT_NE(refused.message.find("connection to 127.0.0.1:" + std::to_string(port) + " failed"),
            std::string::npos)
      << refused.message;

  auto peer = silent();  // accepts, reads, never answers
  const auto start = std::chrono::steady_clock::now();
  CheckResult hung = redis_check("redis://:hunter2hunter@127.0.0.1:" + std::to_string(peer.port()) +
                                 "/1")(within(300ms));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(hung.status, Status::unhealthy);
  EXPECT_EQ(hung.message, "AUTH failed: timed out");
}

// Found by fuzz/config_from_env: libpq quoted the text before an '=' as an unknown option,
// and that piece ended before the '@' closing the user-info, so the password showed.
TEST(PostgresUrl, MalformedUrlReasonNeverQuotesThePassword) {
  try {
    detail::normalize_database_url("postgrEsql://bo/::pw://@db:Zq9Secret=RAM_MOM@redis:6379/x");
    FAIL() << "no ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()).find("Zq9Secret"), std::string::npos) << error.what();
  }
}

TEST(DatabaseUrl, NormalizesDriverSuffixesAndRejectsGarbage) {
  EXPECT_EQ(detail::normalize_database_url("postgresql+asyncpg://bot:pw@db:5432/bot"),
            "postgresql://bot:pw@db:5432/bot");
  EXPECT_EQ(detail::normalize_database_url("postgres://db/bot"), "postgres://db/bot");
  EXPECT_EQ(detail::normalize_database_url("host=db dbname=bot"), "host=db dbname=bot");
  EXPECT_THROW(detail::normalize_database_url(""), ConfigError);
  try {
    detail::normalize_database_url("postgresql://bot:supersecret@db/bot?no_such_option=1");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_EQ(std::string(error.what()).find("supersecret"), std::string::npos) << error.what();
  }
  EXPECT_EQ(detail::database_password("postgresql://bot:s3cr%40t@db/bot"), "s3cr@t");
  EXPECT_EQ(detail::database_password("host=db password='a b'"), "a b");
  EXPECT_EQ(detail::database_password("postgresql://db/bot"), "");
}

TEST(DatabaseUrl, PasswordPiecesAreFoundWithoutParsing) {
  EXPECT_EQ(detail::userinfo_password_pieces("postgresql://app:S3cret/Passw0rd@127.0.0.1:5432/db"),
            (std::vector<std::string>{"S3cret/Passw0rd", "S3cret", "Passw0rd"}));
  EXPECT_EQ(detail::userinfo_password_pieces("redis://:a?b#c@h"),
            (std::vector<std::string>{"a?b#c", "a", "b", "c"}));
  EXPECT_EQ(detail::userinfo_password_pieces("postgresql://bot:plain@db/bot"),
            (std::vector<std::string>{"plain"}));
  EXPECT_TRUE(detail::userinfo_password_pieces("postgresql://bot@db/bot").empty());
  EXPECT_TRUE(detail::userinfo_password_pieces("postgresql://db:5432/bot").empty());
}

// libpq reads "app:S3cret" as host and port when the password holds an unencoded '/', and
// its message quotes the "port" back; /health is public by default.
TEST(DatabaseCheck, PasswordWithSlashNeverReachesTheMessage) {
  const std::string url = "postgresql://app:S3cret/Passw0rd@127.0.0.1:5432/db";
  CheckResult result;
  try {
    result = postgres_check(url)(within(2s));
  } catch (const std::exception& error) {
    result = CheckResult::unhealthy(error.what());
  }
  EXPECT_EQ(result.status, Status::unhealthy);
  EXPECT_NE(result.message.find("port"), std::string::npos) << result.message;
  EXPECT_EQ(result.message.find("S3cret"), std::string::npos) << result.message;
  EXPECT_EQ(result.message.find("Passw0rd"), std::string::npos) << result.message;

  HealthChecker checker(testing::quiet());
  checker.add_check("database", postgres_check(url), testing::options(2s, 0ms));
  const std::string body = to_json(checker.check());
  EXPECT_NE(body.find("unhealthy"), std::string::npos) << body;
  EXPECT_EQ(body.find("S3cret"), std::string::npos) << body;
}

TEST(DatabaseCheck, UnreachableOrSilentServerIsUnhealthyWithinTheDeadline) {
  const int port = testing::closed_loopback_port();
  const std::string url = "postgresql://bot:Pa55word99@127.0.0.1:" + std::to_string(port) + "/bot";
  CheckResult refused;
  try {
    refused = postgres_check(url)(within(2s));
  } catch (const std::exception& error) {
    refused = CheckResult::unhealthy(error.what());
  }
  EXPECT_EQ(refused.status, Status::unhealthy);
  EXPECT_NE(refused.message.find("refused"), std::string::npos) << refused.message;
  EXPECT_EQ(refused.message.find("Pa55word99"), std::string::npos);

  auto peer = silent();
  HealthChecker checker(testing::quiet());
  checker.add_check("database",
                    postgres_check("postgresql://bot:Pa55word99@127.0.0.1:" +
                                   std::to_string(peer.port()) + "/bot?sslmode=disable"),
                    testing::options(400ms, 0ms));
  checker.add_check("migrations",
                    migrations_check("postgresql://bot:Pa55word99@127.0.0.1:" +
                                     std::to_string(peer.port()) + "/bot?sslmode=disable"),
                    testing::options(400ms, 0ms));
  HealthReport report = checker.check();
  for (const auto& check : report.checks) {
    EXPECT_EQ(check.status, Status::unhealthy) << check.name;
    EXPECT_NE(check.message.find("timeout"), std::string::npos) << check.message;
  }
  EXPECT_EQ(to_json(report).find("Pa55word99"), std::string::npos);
}

TEST(Migrations, TableNamesAndVersionOrdering) {
  EXPECT_EQ(detail::validate_table_name("alembic_version"), "alembic_version");
  EXPECT_EQ(detail::validate_table_name("app.schema_migrations"), "app.schema_migrations");
  EXPECT_THROW(detail::validate_table_name("x; DROP TABLE users"), ConfigError);
  EXPECT_THROW(detail::validate_table_name("a.b.c"), ConfigError);
  EXPECT_THROW(detail::validate_table_name("1abc"), ConfigError);
  EXPECT_THROW(migrations_check("postgresql://db/bot", "bad-name"), ConfigError);

  EXPECT_EQ(detail::compare_versions("20240101", "20240102"), -1);
  EXPECT_EQ(detail::compare_versions("1.10", "1.9"), 1);
  EXPECT_EQ(detail::compare_versions("1.2", "1.2.0"), 0);
  EXPECT_EQ(detail::compare_versions("007", "7"), 0);
  EXPECT_EQ(detail::compare_versions("2_1", "2.1"), 0);
  EXPECT_EQ(detail::compare_versions("1.2.3", "1.2.10"), -1);
}

TEST(ScrubMessage, RemovesSecretsFromFreeText) {
  using detail::scrub_message;
  EXPECT_EQ(scrub_message("failed for postgresql://bot:pw@db:5432/bot now"),
            "failed for postgresql://[Filtered]@db:5432/bot now");
  EXPECT_EQ(
      scrub_message("GET https://api.telegram.org/bot" + std::string(kToken) + "/getMe failed"),
      "GET https://api.telegram.org/bot[Filtered]/getMe failed");
  EXPECT_EQ(scrub_message("token " + std::string(kToken) + " rejected"),
            "token [Filtered] rejected");
  // The shared scrubber's key rule takes the whole value of a sensitive key.
  EXPECT_EQ(scrub_message("header Authorization: Bearer abc.def.ghi"),
            "header Authorization: [Filtered]");
  EXPECT_EQ(scrub_message("sent Bearer abc.def.ghi upstream"), "sent Bearer [Filtered] upstream");
  EXPECT_EQ(scrub_message("host=db password=hunter2 user=bot"),
            "host=db password=[Filtered] user=bot");
  EXPECT_EQ(scrub_message("wrong: my-own-secret", {"my-own-secret"}), "wrong: [Filtered]");
  EXPECT_EQ(scrub_message("nothing secret here: 42 rows"), "nothing secret here: 42 rows");
  EXPECT_EQ(scrub_message("password authentication failed for user \"bot\""),
            "password authentication failed for user \"bot\"");
}

TEST(ScrubMessage, RemovesUserinfoFromMalformedUrls) {
  using detail::scrub_message;
  EXPECT_EQ(scrub_message("connect redis://:S3cret/Passw0rd@127.0.0.1:6379 failed"),
            "connect redis://[Filtered]@127.0.0.1:6379 failed");
  EXPECT_EQ(scrub_message("GET https//admin:pw123@h/x refused"),
            "GET https//[Filtered]@h/x refused");
  EXPECT_EQ(scrub_message("bad postgresql:/u:pw123@h"), "bad postgresql:/[Filtered]@h");
}

}  // namespace
}  // namespace monitoring::health
