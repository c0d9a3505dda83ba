// MonitoringConfig: from_env for every variable (valid and invalid values), list parsing,
// validate() on fields built in code, and secrets kept out of error messages.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "monitoring/monitoring.hpp"

namespace monitoring {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using Env = std::map<std::string, std::string>;

EnvSource source_of(const Env& env) {
  return [env](std::string_view name) -> std::optional<std::string> {
    const auto found = env.find(std::string(name));
    if (found == env.end()) return std::nullopt;
    return found->second;
  };
}

MonitoringConfig from(const Env& env) {
  return MonitoringConfig::from_env(source_of(env));
}

/// The ConfigError message from_env throws for `env` (fails the test if none).
std::string error_for(const Env& env) {
  try {
    from(env);
  } catch (const ConfigError& error) {
    return error.what();
  }
  ADD_FAILURE() << "no ConfigError for " << env.begin()->first << "=" << env.begin()->second;
  return {};
}

std::string validate_error(const MonitoringConfig& config) {
  try {
    config.validate();
  } catch (const ConfigError& error) {
    return error.what();
  }
  ADD_FAILURE() << "validate() accepted the config";
  return {};
}

TEST(MonitoringConfigDefaults, MatchTheDocumentedDefaults) {
  const MonitoringConfig config;
  EXPECT_EQ(config.log_level, "INFO");
  EXPECT_EQ(config.log_dir, "logs");
  EXPECT_TRUE(config.use_json_logs);
  EXPECT_EQ(config.sentry_dsn, "");
  EXPECT_EQ(config.sentry_environment, "production");
  EXPECT_DOUBLE_EQ(config.sentry_traces_sample_rate, 0.1);
  EXPECT_EQ(config.monitoring_host, "0.0.0.0");
  EXPECT_EQ(config.monitoring_port, 9090);
  EXPECT_TRUE(config.enable_monitoring_server);
  EXPECT_TRUE(config.payment_systems.empty());
  EXPECT_EQ(config.telegram_api_url, "https://api.telegram.org");
  EXPECT_EQ(config.migrations_table, "alembic_version");
  EXPECT_EQ(config.sentry_cache_dir, ".sentry");
  EXPECT_DOUBLE_EQ(config.sentry_sample_rate, 1.0);
  EXPECT_EQ(config.log_max_bytes, 10u * 1024 * 1024);
  EXPECT_EQ(config.log_backup_count, 5);
  EXPECT_EQ(config.server_threads, 1);
  EXPECT_EQ(config.max_connections_per_client, 64u);
  EXPECT_EQ(config.metrics_series_limit, 10000u);
  EXPECT_NO_THROW(config.validate());
}

TEST(MonitoringConfigDefaults, EmptyEnvironmentGivesDefaults) {
  const MonitoringConfig config = from({});
  EXPECT_EQ(config.log_level, "INFO");
  EXPECT_EQ(config.monitoring_port, 9090);
  EXPECT_EQ(config.telegram_api_url, "https://api.telegram.org");
}

TEST(MonitoringConfigDefaults, EmptyOrBlankVariableCountsAsUnset) {
  const MonitoringConfig config = from({{"LOG_LEVEL", ""},
                                        {"MONITORING_PORT", "  "},
                                        {"SENTRY_DSN", ""},
                                        {"SENTRY_ENVIRONMENT", ""}});
  EXPECT_EQ(config.log_level, "INFO");
  EXPECT_EQ(config.monitoring_port, 9090);
  EXPECT_EQ(config.sentry_dsn, "");
  EXPECT_EQ(config.sentry_environment, "production");
}

TEST(MonitoringConfigDefaults, DesignatedInitializersFollowTheContractOrder) {
  // Compiles only if the fields come in this order (designated initializers must be ordered).
  const MonitoringConfig config{
      .log_level = "DEBUG",
      .log_dir = "/tmp/logs",
      .use_json_logs = false,
      .sentry_dsn = "https://key@sentry.example.com/42",
      .sentry_environment = "staging",
      .sentry_traces_sample_rate = 0.5,
      .monitoring_host = "127.0.0.1",
      .monitoring_port = 0,
      .enable_monitoring_server = false,
      .database_url = "postgresql://bot@localhost/bot",
      .redis_url = "redis://localhost:6379",
      .telegram_token = "123456:ABC-def_ghi",
      .panel_url = "https://panel.example.com",
      .payment_systems = {{"yookassa", "https://yookassa.ru"},
                          {"cryptopay", "https://pay.crypt.bot"}},
      .telegram_api_url = "http://127.0.0.1:8081",
      .migrations_table = "public.schema_migrations",
      .log_max_bytes = 1024,
      .monitoring_auth_token = "s3cr3t-token",
      .metrics_series_limit = 500,
  };
  EXPECT_NO_THROW(config.validate());
  EXPECT_EQ(config.payment_systems.size(), 2u);
}

// --- every variable, valid values ---------------------------------------------------------

TEST(MonitoringConfigFromEnv, ReadsEveryVariable) {
  const MonitoringConfig config = from({
      {"LOG_LEVEL", "debug"},
      {"LOG_DIR", "/var/log/bot"},
      {"USE_JSON_LOGS", "no"},
      {"SENTRY_DSN", "https://abc123@o1.ingest.sentry.io/4242"},
      {"SENTRY_ENVIRONMENT", "staging"},
      {"SENTRY_TRACES_SAMPLE_RATE", "0.25"},
      {"MONITORING_HOST", "127.0.0.1"},
      {"MONITORING_PORT", "9100"},
      {"ENABLE_MONITORING_SERVER", "off"},
      {"DATABASE_URL", "postgresql://bot:pw@db:5432/bot"},
      {"REDIS_URL", "redis://:pw@cache:6379/2"},
      {"TELEGRAM_TOKEN", "123456789:AAH-secret_part"},
      {"PANEL_URL", "https://panel.example.com/api"},
      {"PAYMENT_SYSTEMS", "yookassa=https://api.yookassa.ru,cryptopay=https://pay.crypt.bot"},
      {"TELEGRAM_API_URL", "http://127.0.0.1:8081"},
      {"MIGRATIONS_TABLE", "schema_migrations"},
      {"MIGRATIONS_EXPECTED_VERSION", "20240101_add_users"},
      {"SENTRY_RELEASE", "bot@2.1.0"},
      {"SENTRY_CACHE_DIR", "/tmp/monitoring-config-test/sentry"},
      {"SENTRY_SAMPLE_RATE", "0.5"},
      {"LOG_LEVELS", "payment=DEBUG,aiogram.dispatcher=warn"},
      {"LOG_MAX_BYTES", "5MiB"},
      {"LOG_BACKUP_COUNT", "3"},
      {"LOG_BACKTRACE", "50"},
      {"MONITORING_AUTH_TOKEN", "scrape-token_42"},
      {"MONITORING_SERVER_THREADS", "2"},
      {"MONITORING_MAX_CONNECTIONS", "64"},
      {"MONITORING_MAX_CONNECTIONS_PER_CLIENT", "0"},
      {"MONITORING_MAX_HEADER_BYTES", "16384"},
      {"MONITORING_READ_TIMEOUT_MS", "2500"},
      {"MONITORING_KEEP_ALIVE_TIMEOUT_MS", "5000"},
      {"MONITORING_WRITE_TIMEOUT_MS", "3000"},
      {"MONITORING_SHUTDOWN_GRACE_MS", "0"},
      {"MONITORING_DRAIN_MS", "5000"},
      {"LOG_CONSOLE", "stdout"},
      {"METRICS_SERIES_LIMIT", "2000"},
  });
  EXPECT_EQ(config.log_level, "DEBUG");
  EXPECT_EQ(config.log_dir, "/var/log/bot");
  EXPECT_FALSE(config.use_json_logs);
  EXPECT_EQ(config.sentry_dsn, "https://abc123@o1.ingest.sentry.io/4242");
  EXPECT_EQ(config.sentry_environment, "staging");
  EXPECT_DOUBLE_EQ(config.sentry_traces_sample_rate, 0.25);
  EXPECT_EQ(config.monitoring_host, "127.0.0.1");
  EXPECT_EQ(config.monitoring_port, 9100);
  EXPECT_FALSE(config.enable_monitoring_server);
  EXPECT_EQ(config.database_url, "postgresql://bot:pw@db:5432/bot");
  EXPECT_EQ(config.redis_url, "redis://:pw@cache:6379/2");
  EXPECT_EQ(config.telegram_token, "123456789:AAH-secret_part");
  EXPECT_EQ(config.panel_url, "https://panel.example.com/api");
  EXPECT_EQ(config.payment_systems,
            (std::map<std::string, std::string>{{"cryptopay", "https://pay.crypt.bot"},
                                                {"yookassa", "https://api.yookassa.ru"}}));
  EXPECT_EQ(config.telegram_api_url, "http://127.0.0.1:8081");
  EXPECT_EQ(config.migrations_table, "schema_migrations");
  EXPECT_EQ(config.migrations_expected_version, "20240101_add_users");
  EXPECT_EQ(config.sentry_release, "bot@2.1.0");
  EXPECT_EQ(config.sentry_cache_dir, "/tmp/monitoring-config-test/sentry");
  EXPECT_DOUBLE_EQ(config.sentry_sample_rate, 0.5);
  EXPECT_EQ(config.log_levels, (std::map<std::string, std::string>{
                                   {"aiogram.dispatcher", "WARNING"}, {"payment", "DEBUG"}}));
  EXPECT_EQ(config.log_max_bytes, 5u * 1024 * 1024);
  EXPECT_EQ(config.log_backup_count, 3);
  EXPECT_EQ(config.log_backtrace, 50);
  EXPECT_EQ(config.monitoring_auth_token, "scrape-token_42");
  EXPECT_EQ(config.server_threads, 2);
  EXPECT_EQ(config.max_connections, 64u);
  EXPECT_EQ(config.max_connections_per_client, 0u);
  EXPECT_EQ(config.max_header_bytes, 16384u);
  EXPECT_EQ(config.read_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(config.keep_alive_timeout, std::chrono::milliseconds(5000));
  EXPECT_EQ(config.write_timeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(config.shutdown_grace, std::chrono::milliseconds(0));
  EXPECT_EQ(config.drain_period, std::chrono::milliseconds(5000));
  EXPECT_EQ(config.log_console, "stdout");
  EXPECT_EQ(config.metrics_series_limit, 2000u);
  EXPECT_NO_THROW(config.validate());
}

TEST(MonitoringConfigFromEnv, ValuesAreTrimmed) {
  const MonitoringConfig config =
      from({{"LOG_LEVEL", " error\n"}, {"MONITORING_PORT", "\t8080 "}, {"LOG_DIR", " logs/bot "}});
  EXPECT_EQ(config.log_level, "ERROR");
  EXPECT_EQ(config.monitoring_port, 8080);
  EXPECT_EQ(config.log_dir, "logs/bot");
}

TEST(MonitoringConfigFromEnv, BooleansInEverySpelling) {
  for (const char* yes : {"true", "TRUE", "True", "1", "yes", "YES", "on", "On"}) {
    EXPECT_TRUE(from({{"USE_JSON_LOGS", "false"}, {"ENABLE_MONITORING_SERVER", yes}})
                    .enable_monitoring_server)
        << yes;
    EXPECT_TRUE(from({{"USE_JSON_LOGS", yes}}).use_json_logs) << yes;
    EXPECT_TRUE(from({{"MONITORING_THROW_TRACES", yes}}).throw_traces) << yes;
    EXPECT_TRUE(from({{"SENTRY_AUTO_SESSION_TRACKING", yes}}).sentry_auto_session_tracking) << yes;
  }
  for (const char* no : {"false", "FALSE", "0", "no", "No", "off", "OFF"}) {
    EXPECT_FALSE(from({{"ENABLE_MONITORING_SERVER", no}}).enable_monitoring_server) << no;
    EXPECT_FALSE(from({{"USE_JSON_LOGS", no}}).use_json_logs) << no;
    EXPECT_FALSE(from({{"MONITORING_THROW_TRACES", no}}).throw_traces) << no;
    EXPECT_FALSE(from({{"SENTRY_AUTO_SESSION_TRACKING", no}}).sentry_auto_session_tracking) << no;
  }
  EXPECT_TRUE(MonitoringConfig{}.throw_traces);
  EXPECT_TRUE(MonitoringConfig{}.sentry_auto_session_tracking);
}

TEST(MonitoringConfigFromEnv, LoggersWritableIsAnExplicitBoolean) {
  EXPECT_FALSE(MonitoringConfig{}.loggers_writable);
  EXPECT_FALSE(from({}).loggers_writable);
  EXPECT_TRUE(from({{"MONITORING_LOGGERS_WRITABLE", "true"}}).loggers_writable);
  EXPECT_FALSE(from({{"MONITORING_LOGGERS_WRITABLE", "off"}}).loggers_writable);
  try {
    from({{"MONITORING_LOGGERS_WRITABLE", "maybe"}});
    ADD_FAILURE() << "accepted \"maybe\"";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("MONITORING_LOGGERS_WRITABLE"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("maybe"), std::string::npos) << e.what();
  }
}

TEST(MonitoringConfigFromEnv, LevelsAreCaseInsensitiveAndCanonical) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"debug", "DEBUG"},  {"Info", "INFO"},   {"warning", "WARNING"},  {"WARN", "WARNING"},
      {"warn", "WARNING"}, {"ERROR", "ERROR"}, {"critical", "CRITICAL"}};
  for (const auto& [given, canonical] : cases)
    EXPECT_EQ(from({{"LOG_LEVEL", given}}).log_level, canonical) << given;
  EXPECT_EQ(normalize_log_level("Warn"), "WARNING");
  EXPECT_EQ(normalize_log_level("verbose"), std::nullopt);
  EXPECT_EQ(normalize_log_level(""), std::nullopt);
}

TEST(MonitoringConfigFromEnv, PortEdges) {
  EXPECT_EQ(from({{"MONITORING_PORT", "0"}}).monitoring_port, 0);
  EXPECT_EQ(from({{"MONITORING_PORT", "65535"}}).monitoring_port, 65535);
}

TEST(MonitoringConfigFromEnv, RateEdges) {
  EXPECT_DOUBLE_EQ(from({{"SENTRY_TRACES_SAMPLE_RATE", "0"}}).sentry_traces_sample_rate, 0.0);
  EXPECT_DOUBLE_EQ(from({{"SENTRY_TRACES_SAMPLE_RATE", "1"}}).sentry_traces_sample_rate, 1.0);
  EXPECT_DOUBLE_EQ(from({{"SENTRY_SAMPLE_RATE", "1e-3"}}).sentry_sample_rate, 0.001);
  EXPECT_DOUBLE_EQ(from({{"SENTRY_SAMPLE_RATE", ".5"}}).sentry_sample_rate, 0.5);
}

TEST(MonitoringConfigFromEnv, HostForms) {
  for (const char* host : {"0.0.0.0", "127.0.0.1", "::", "::1", "[::1]", "localhost", "fe80::1%lo"})
    EXPECT_EQ(from({{"MONITORING_HOST", host}}).monitoring_host, host);
}

TEST(MonitoringConfigFromEnv, LogMaxBytesUnits) {
  const std::vector<std::pair<std::string, std::uint64_t>> cases = {
      {"0", 0},
      {"1048576", 1048576},
      {"100B", 100},
      {"10K", 10 * 1024},
      {"10KiB", 10 * 1024},
      {"10KB", 10 * 1000},
      {"10MB", 10'000'000},
      {"10MiB", 10 * 1024 * 1024},
      {"10m", 10 * 1024 * 1024},
      {"10 mib", 10 * 1024 * 1024},
      {"2G", 2ull << 30},
      {"1GB", 1'000'000'000},
      {"1TiB", 1ull << 40},
  };
  for (const auto& [text, bytes] : cases)
    EXPECT_EQ(from({{"LOG_MAX_BYTES", text}}).log_max_bytes, bytes) << text;
}

TEST(MonitoringConfigFromEnv, DatabaseUrlForms) {
  for (const char* url :
       {"postgresql://bot@localhost/bot", "postgres://u:p@[::1]:5432/db?sslmode=disable",
        "postgresql:///bot?host=/run/postgresql", "host=/run/postgresql dbname=bot user=bot",
        "postgresql+asyncpg://bot:pw@db:5432/bot"})
    EXPECT_EQ(from({{"DATABASE_URL", url}}).database_url, url);
}

TEST(MonitoringConfigFromEnv, RedisUrlForms) {
  for (const char* url :
       {"redis://localhost:6379", "redis://:pw@localhost:6379/0", "redis://user:pw@host/15",
        "unix:///run/redis/redis.sock", "unix:///run/redis/redis.sock?db=3"})
    EXPECT_EQ(from({{"REDIS_URL", url}}).redis_url, url);
}

// validate() runs the health checks' own parsers: what it accepts, the checks accept.
TEST(MonitoringConfigAgreesWithChecks, MigrationsTableWithDollarIsRefused) {
  const std::string message = error_for({{"MIGRATIONS_TABLE", "app.schema$migrations"}});
  EXPECT_THAT(message, HasSubstr("MIGRATIONS_TABLE: invalid value \"app.schema$migrations\""));
  EXPECT_THAT(message, HasSubstr("plain identifiers"));

  MonitoringConfig config;
  config.migrations_table = "app.schema$migrations";
  EXPECT_THAT(validate_error(config), ::testing::StartsWith("migrations_table: invalid value"));
}

TEST(MonitoringConfigAgreesWithChecks, RedissIsRefusedWithoutShowingThePassword) {
  const std::string message = error_for({{"REDIS_URL", "rediss://h:6380/0"}});
  EXPECT_THAT(message, HasSubstr("REDIS_URL: invalid value \"rediss://h:6380/0\""));
  EXPECT_THAT(message, HasSubstr("TLS"));

  const std::string with_password =
      error_for({{"REDIS_URL", "rediss://default:S3cretPassw0rd@h:6380/0"}});
  EXPECT_THAT(with_password, HasSubstr("REDIS_URL"));
  EXPECT_THAT(with_password, Not(HasSubstr("S3cretPassw0rd")));

  MonitoringConfig config;
  config.redis_url = "rediss://:S3cretPassw0rd@h:6380/0";
  const std::string field_message = validate_error(config);
  EXPECT_THAT(field_message, ::testing::StartsWith("redis_url: invalid value"));
  EXPECT_THAT(field_message, Not(HasSubstr("S3cretPassw0rd")));
}

TEST(MonitoringConfigAgreesWithChecks, DatabaseUrlLibpqRejectsIsRefused) {
  const std::string message =
      error_for({{"DATABASE_URL", "postgresql://bot:S3cretPassw0rd@db/bot?no_such_option=1"}});
  EXPECT_THAT(message, HasSubstr("DATABASE_URL: invalid value"));
  EXPECT_THAT(message, HasSubstr("no_such_option"));
  EXPECT_THAT(message, Not(HasSubstr("S3cretPassw0rd")));
}

// libpq checks a port only when it connects; the config refuses a bad one up front, with the
// same rule (and the same message) as every other URL variable, and the password redacted.
TEST(MonitoringConfigAgreesWithChecks, UrlPortsOutsideTheRangeAreRefused) {
  struct Case {
    std::string variable, value, shown;  // `shown`: what the message quotes of the value
  };
  const std::vector<Case> cases = {
      {"DATABASE_URL", "postgresql://bot:S3cretPassw0rd@db:99999/bot", "db:99999/bot"},
      {"DATABASE_URL", "postgresql://bot:S3cretPassw0rd@db:0/bot", "db:0/bot"},
      {"DATABASE_URL", "postgresql://bot:S3cretPassw0rd@db:5432x/bot", "db:5432x/bot"},
      {"DATABASE_URL", "postgres://bot:S3cretPassw0rd@db:http", "db:http"},
      {"DATABASE_URL", "postgresql+asyncpg://bot:S3cretPassw0rd@db:65536/bot", "db:65536"},
      {"DATABASE_URL", "postgresql://bot:S3cretPassw0rd@[::1]:99999/bot", "[::1]:99999"},
      {"DATABASE_URL", "postgresql://bot:S3cretPassw0rd@a:5432,b:99999/bot", "b:99999"},
      {"DATABASE_URL", "postgresql://bot:S3cretPassw0rd@db/bot?port=0", "port=0"},
      {"DATABASE_URL", "postgresql://bot@db/bot?sslmode=disable&port=5432,70000", "70000"},
      {"DATABASE_URL", "host=db port=99999 user=bot password=S3cretPassw0rd", "port=99999"},
      {"DATABASE_URL", "host=db port = '0' password='S3cretPassw0rd'", "port = '0'"},
      {"DATABASE_URL", "host=a,b port=5432,-1 password=S3cretPassw0rd", "5432,-1"},
      {"REDIS_URL", "redis://:S3cretPassw0rd@cache:99999/0", "cache:99999"},
      {"REDIS_URL", "redis://:S3cretPassw0rd@cache:0", "cache:0"},
      {"PANEL_URL", "https://admin:S3cretPassw0rd@panel:99999/", "panel:99999"},
      {"TELEGRAM_API_URL", "https://api.telegram.org:0", "api.telegram.org:0"},
  };
  for (const auto& [variable, value, shown] : cases) {
    const std::string message = error_for({{variable, value}});
    EXPECT_THAT(message, HasSubstr(variable + ": invalid value \"")) << value;
    EXPECT_THAT(message, HasSubstr(shown)) << value;
    EXPECT_THAT(message, HasSubstr("port is not a number 1..65535")) << value;
    EXPECT_THAT(message, Not(HasSubstr("S3cret"))) << value;
    EXPECT_THAT(message, Not(HasSubstr("Passw0rd"))) << value;
  }
  MonitoringConfig config;
  config.database_url = "postgresql://bot:S3cretPassw0rd@db:99999/bot";
  const std::string field_message = validate_error(config);
  EXPECT_THAT(field_message, ::testing::StartsWith("database_url: invalid value"));
  EXPECT_THAT(field_message, Not(HasSubstr("S3cretPassw0rd")));

  // Ports libpq takes: each host's, a list, the default (none or empty).
  for (const char* url :
       {"postgresql://bot@db:1/bot", "postgresql://bot@db:65535/bot",
        "postgresql://bot@a:5432,b:5433,[::1]:5434/bot", "postgresql://bot@a,b/bot",
        "postgresql:///bot?host=/run/postgresql&port=5433", "host=a,b port=5432,5433 dbname=bot",
        "host=db port='5432' dbname=bot"})
    EXPECT_EQ(from({{"DATABASE_URL", url}}).database_url, url);
}

TEST(MonitoringConfigAgreesWithChecks, MalformedUrlsLoseTheirPasswordInMessages) {
  for (const std::string url :
       {"redis://:S3cret/Passw0rd@127.0.0.1:6379", "https//admin:S3cretPassw0rd@h",
        "postgresql:/u:S3cretPassw0rd@h"}) {
    for (const char* variable : {"REDIS_URL", "DATABASE_URL", "PANEL_URL"}) {
      const std::string message = error_for({{variable, url}});
      EXPECT_THAT(message, HasSubstr(variable)) << url;
      EXPECT_THAT(message, Not(HasSubstr("S3cret"))) << variable << "=" << url;
      EXPECT_THAT(message, Not(HasSubstr("Passw0rd"))) << variable << "=" << url;
    }
  }
}

// Realistic typos around a credential, for every variable that takes a URL: whatever the
// value, a rejected one is named without its password (nor any 6-character piece of it).
TEST(MonitoringConfigAgreesWithChecks, NoTypoAroundACredentialEchoesIt) {
  const std::string secret = "S3cretPassw0rd";
  const std::vector<std::string> shapes = {
      "\"postgresql://app:@SECRET@@db/app\"",  // stray quotes
      "'redis://:@SECRET@@127.0.0.1:6379'",
      " postgresql://app:@SECRET@@db/app",  // leading space
      "postgresql://app:@SECRET@@db/app ",
      "postgresql://app:S3cret/Passw0rd@127.0.0.1:5432/db",  // '/' in the password
      "redis://:S3cret/Passw0rd@127.0.0.1:6379",
      "redis://:S3cret?Passw0rd@127.0.0.1:6379",
      "redis://:S3cret#Passw0rd@127.0.0.1:6379",
      "https//admin:@SECRET@@h",  // lost ':'
      "https:/admin:@SECRET@@h",  // lost '/'
      "postgresql:/app:@SECRET@@h/app",
      "postgresql:app:@SECRET@@h/app",
      "//app:@SECRET@@h/app",  // no scheme
      "app:@SECRET@@h/app",
      "htps://admin:@SECRET@@h",  // misspelt scheme
      "postgresql//app:@SECRET@@db/app",
      "redis//:@SECRET@@h:6379",
      "postgresql://app:@SECRET@@db:5432x/app",  // bad port
      "postgresql://app:@SECRET@@db:99999/app",
      "redis://:@SECRET@@h:port/0",
      "redis://:@SECRET@@h:6379/db0",  // bad database
      "https://admin:@SECRET@@h:0/",
      "https://admin:@SECRET@@[::1/",  // unclosed IPv6
      "https://admin:@SECRET@@",       // no host
      "https://admin:@SECRET@@ h",
      "https://admin:@SECRET@@h\tx",
      "postgresql://app:@SECRET@@db/app?sslmode=maybe",
      "postgresql://app:@SECRET@@db/app?no_such_option=1",
      "postgresql://app:@SECRET@@db/app?password=@SECRET@",
      "https://h/?token=@SECRET@",
      "https://h/?api_key=@SECRET@&x=1",
      "postgresql://app:@SECRET@@@db/app",  // '@' in the password, unencoded
      "postgresql://app:@SECRET@%@db/app",  // stray '%'
      "http://admin:@SECRET@@h\r\nX-Injected: 1",
      "ftp://admin:@SECRET@@h/",  // wrong scheme for the variable
  };
  std::vector<std::string> pieces;
  for (std::size_t i = 0; i + 6 <= secret.size(); ++i) pieces.push_back(secret.substr(i, 6));
  for (const std::string variable :
       {"DATABASE_URL", "REDIS_URL", "PANEL_URL", "TELEGRAM_API_URL", "PAYMENT_SYSTEMS"}) {
    for (std::string value : shapes) {
      for (std::size_t at = value.find("@SECRET@"); at != std::string::npos;
           at = value.find("@SECRET@"))
        value.replace(at, 8, secret);
      if (variable == "PAYMENT_SYSTEMS") value = "yookassa=" + value;
      std::string message;
      try {
        (void)from({{variable, value}});
        continue;  // accepted: what checks say about it is the health tests' business
      } catch (const ConfigError& error) {
        message = error.what();
      }
      EXPECT_THAT(message, HasSubstr(variable)) << value;
      for (const std::string& piece : pieces)
        EXPECT_THAT(message, Not(HasSubstr(piece))) << variable << "=" << value;
    }
  }
}

// Secret variables are never echoed, whatever is wrong with them.
TEST(MonitoringConfigAgreesWithChecks, RejectedSecretVariablesAreNotEchoed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"TELEGRAM_TOKEN", "123456:S3cretPassw0rdS3cretPassw0rd xyz"},
      {"TELEGRAM_TOKEN", "\"123456789:AAHS3cretPassw0rdS3cretPassw0rdAAAAAA\""},
      {"TELEGRAM_TOKEN", "S3cretPassw0rd"},
      {"TELEGRAM_TOKEN", "bot123456789:AAHS3cretPassw0rdS3cretPassw0rdAAAAAA"},
      {"MONITORING_AUTH_TOKEN", "S3cretPassw0rd\n"},
      {"MONITORING_AUTH_TOKEN", " S3cretPassw0rd"},
      {"MONITORING_AUTH_TOKEN", "S3cret Passw0rd"},
      {"MONITORING_AUTH_TOKEN", "S3cretPassw0rd\x01"},
  };
  for (const auto& [variable, value] : cases) {
    std::string message;
    try {
      (void)from({{variable, value}});
      continue;
    } catch (const ConfigError& error) {
      message = error.what();
    }
    EXPECT_THAT(message, HasSubstr(variable)) << value;
    EXPECT_THAT(message, Not(HasSubstr("S3cret"))) << variable << "=" << value;
    EXPECT_THAT(message, Not(HasSubstr("Passw0rd"))) << variable << "=" << value;
  }
}

// --- PAYMENT_SYSTEMS and LOG_LEVELS -----------------------------------------------------------

TEST(MonitoringConfigLists, PaymentSystemsWithWhitespace) {
  const MonitoringConfig config = from(
      {{"PAYMENT_SYSTEMS",
        "  yookassa = https://yookassa.ru ,\n cryptopay=https://pay.crypt.bot/api?x=1&y=2  "}});
  EXPECT_EQ(config.payment_systems,
            (std::map<std::string, std::string>{{"cryptopay", "https://pay.crypt.bot/api?x=1&y=2"},
                                                {"yookassa", "https://yookassa.ru"}}));
}

// DESIGN.md section 6: PAYMENT_SYSTEMS is `name=url,name=url`. An empty entry is most often a
// system a template left out; skipping it would silently drop that system's health check.
TEST(MonitoringConfigLists, EmptyPaymentSystemEntriesAreRejected) {
  for (const std::string value :
       {"yookassa=https://yookassa.ru,,cryptobot=https://pay.crypt.bot",
        "yookassa=https://yookassa.ru,", "yookassa=https://yookassa.ru, \t ,",
        ",yookassa=https://yookassa.ru", "yookassa=https://yookassa.ru,  ,cryptobot=https://c.bot",
        ",", " , ", ",,,"}) {
    const std::string message = error_for({{"PAYMENT_SYSTEMS", value}});
    EXPECT_THAT(message, HasSubstr("PAYMENT_SYSTEMS")) << value;
    EXPECT_THAT(message, HasSubstr("empty entry")) << value;
    if (value.find("yookassa") != std::string::npos) {  // the value is shown
      EXPECT_THAT(message, HasSubstr("yookassa=https://yookassa.ru")) << value;
    }
  }
  // The value is shown with its credentials redacted.
  const std::string message =
      error_for({{"PAYMENT_SYSTEMS", "shop=https://merchant:hunter2@pay.example.com,,"}});
  EXPECT_THAT(message, HasSubstr("PAYMENT_SYSTEMS"));
  EXPECT_THAT(message, HasSubstr("pay.example.com"));
  EXPECT_THAT(message, Not(HasSubstr("hunter2")));
  // Only spaces in the whole variable count as unset, as for every variable (VAR= ).
  EXPECT_TRUE(from({{"PAYMENT_SYSTEMS", "   "}}).payment_systems.empty());
}

TEST(MonitoringConfigLists, PaymentSystemWithEmptyUrlIsNotConfigured) {
  const MonitoringConfig config =
      from({{"PAYMENT_SYSTEMS", "yookassa=,cryptopay=https://pay.crypt.bot"}});
  EXPECT_EQ(config.payment_systems,
            (std::map<std::string, std::string>{{"cryptopay", "https://pay.crypt.bot"}}));
}

TEST(MonitoringConfigLists, MalformedPaymentSystems) {
  struct Case {
    std::string value, expected;
  };
  const std::vector<Case> cases = {
      {"yookassa", "malformed entry"},
      {"yookassa=https://yookassa.ru,cryptopay", "malformed entry"},
      {"=https://yookassa.ru", "malformed entry"},
      {"yookassa=https://a.ru,yookassa=https://b.ru", "listed twice"},
      {"yoo kassa=https://yookassa.ru", "payment system name"},
      {"yookassa=ftp://yookassa.ru", "http:// or https://"},
      {"yookassa=yookassa.ru", "http:// or https://"},
      {"yookassa=https://", "no host"},
      {"yookassa=https://yookassa.ru:99999", "port"},
  };
  for (const auto& [value, expected] : cases) {
    const std::string message = error_for({{"PAYMENT_SYSTEMS", value}});
    EXPECT_THAT(message, HasSubstr("PAYMENT_SYSTEMS")) << value;
    EXPECT_THAT(message, HasSubstr(expected)) << value;
  }
  // The failing entry is named.
  EXPECT_THAT(error_for({{"PAYMENT_SYSTEMS", "yookassa=ftp://yookassa.ru"}}),
              HasSubstr("PAYMENT_SYSTEMS[yookassa]"));
}

TEST(MonitoringConfigLists, PaymentSystemCredentialsAreRedacted) {
  const std::string message =
      error_for({{"PAYMENT_SYSTEMS", "shop=ftp://merchant:hunter2@pay.example.com"}});
  EXPECT_THAT(message, HasSubstr("PAYMENT_SYSTEMS"));
  EXPECT_THAT(message, Not(HasSubstr("hunter2")));
  EXPECT_THAT(message, HasSubstr("pay.example.com"));
  const std::string no_equals =
      error_for({{"PAYMENT_SYSTEMS", "https://merchant:hunter2@pay.example.com"}});
  EXPECT_THAT(no_equals, Not(HasSubstr("hunter2")));
}

TEST(MonitoringConfigLists, LogLevelsWithWhitespaceAndAliases) {
  const MonitoringConfig config =
      from({{"LOG_LEVELS", " payment = debug , monitoring.health=Warn,, sqlalchemy=ERROR ,"}});
  EXPECT_EQ(config.log_levels,
            (std::map<std::string, std::string>{
                {"monitoring.health", "WARNING"}, {"payment", "DEBUG"}, {"sqlalchemy", "ERROR"}}));
}

TEST(MonitoringConfigLists, MalformedLogLevels) {
  struct Case {
    std::string value, expected;
  };
  const std::vector<Case> cases = {
      {"payment", "malformed entry"},
      {"=DEBUG", "malformed entry"},
      {"payment=", "log level"},
      {"payment=LOUD", "LOG_LEVELS[payment]"},
      {"payment=DEBUG,payment=INFO", "listed twice"},
      {"pay ment=DEBUG", "module name"},
  };
  for (const auto& [value, expected] : cases) {
    const std::string message = error_for({{"LOG_LEVELS", value}});
    EXPECT_THAT(message, HasSubstr("LOG_LEVELS")) << value;
    EXPECT_THAT(message, HasSubstr(expected)) << value;
  }
}

// Found by fuzz/config_from_env: the module went into the message's name unescaped when its
// level was invalid, so a control character in it split the log line.
TEST(MonitoringConfigLists, ModuleWithControlCharacterAndBadLevelStaysOneLine) {
  const std::string message = error_for({{"LOG_LEVELS", "a\x1b\vb=LOUD"}});
  EXPECT_THAT(message, HasSubstr("module name")) << message;
  for (char c : message) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << message;
}

// Found by fuzz/config_from_env: the Redis check's own reason quoted the URL with its
// control characters.
TEST(MonitoringConfigLists, ComponentReasonHasNoControlCharacters) {
  const std::string message = error_for({{"REDIS_URL", "rediss://\x17host:6379/0"}});
  EXPECT_THAT(message, HasSubstr("TLS")) << message;
  for (char c : message) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << message;
}

// Found by fuzz/config_from_env: a URL pasted into a variable that is not a URL was shown
// with its password.
TEST(MonitoringConfigLists, UrlPasswordInAnyVariableIsHidden) {
  const std::string message = error_for({{"LOG_LEVEL", "INFO postgresql://bot:hunter2@db/bot"}});
  EXPECT_THAT(message, HasSubstr("LOG_LEVEL")) << message;
  EXPECT_THAT(message, HasSubstr("postgresql://[Filtered]@db/bot")) << message;
  EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
}

// --- every variable, invalid values -------------------------------------------------------------

struct BadValue {
  std::string variable;
  std::string value;
  std::string expected;  // part of the message besides the variable name
};

TEST(MonitoringConfigFromEnv, BadValuesNameTheVariableAndTheValue) {
  const std::vector<BadValue> cases = {
      {"LOG_LEVEL", "verbose", "log level"},
      {"USE_JSON_LOGS", "maybe", "boolean"},
      {"SENTRY_AUTO_SESSION_TRACKING", "sometimes", "boolean"},
      {"SENTRY_ENVIRONMENT", "prod/eu", "Sentry environment"},
      {"SENTRY_ENVIRONMENT", "None", "Sentry environment"},
      {"SENTRY_TRACES_SAMPLE_RATE", "1.5", "between 0 and 1"},
      {"SENTRY_TRACES_SAMPLE_RATE", "-0.1", "between 0 and 1"},
      {"SENTRY_TRACES_SAMPLE_RATE", "0.1x", "between 0 and 1"},
      {"SENTRY_TRACES_SAMPLE_RATE", "nan", "between 0 and 1"},
      {"SENTRY_TRACES_SAMPLE_RATE", "inf", "between 0 and 1"},
      {"MONITORING_HOST", "example.com", "IPv4 or IPv6"},
      {"MONITORING_HOST", "256.1.1.1", "IPv4 or IPv6"},
      {"MONITORING_PORT", "http", "port"},
      {"MONITORING_PORT", "9090abc", "port"},
      {"MONITORING_PORT", "90.5", "port"},
      {"MONITORING_PORT", "+9090", "port"},
      {"MONITORING_PORT", "65536", "port"},
      {"MONITORING_PORT", "-1", "port"},
      {"MONITORING_PORT", "99999999999999999999", "port"},
      {"ENABLE_MONITORING_SERVER", "enabled", "boolean"},
      {"DATABASE_URL", "mysql://db/bot", "postgresql://"},
      {"DATABASE_URL", "just-a-host", "postgresql://"},
      {"REDIS_URL", "localhost:6379", "redis://"},
      {"REDIS_URL", "redis://localhost:6379/db1", "number"},
      {"REDIS_URL", "redis://:6379", "no host"},
      {"PANEL_URL", "panel.example.com", "http:// or https://"},
      {"PANEL_URL", "https://panel.example.com/a b", "space"},
      {"TELEGRAM_API_URL", "ws://api.telegram.org", "http:// or https://"},
      {"MIGRATIONS_TABLE", "alembic_version; DROP TABLE users", "table name"},
      {"MIGRATIONS_TABLE", "1table", "table name"},
      {"MIGRATIONS_TABLE", "a.b.c", "table name"},
      {"SENTRY_RELEASE", "bot/2.1", "Sentry release"},
      {"SENTRY_RELEASE", "..", "Sentry release"},
      {"SENTRY_SAMPLE_RATE", "2", "between 0 and 1"},
      {"LOG_MAX_BYTES", "10XB", "byte count"},
      {"LOG_MAX_BYTES", "MB", "byte count"},
      {"LOG_MAX_BYTES", "-5", "byte count"},
      {"LOG_MAX_BYTES", "1.5MB", "byte count"},
      {"LOG_MAX_BYTES", "99999999999TiB", "64 bits"},
      {"LOG_BACKUP_COUNT", "-1", "0..10000"},
      {"LOG_BACKUP_COUNT", "five", "0..10000"},
      {"LOG_BACKTRACE", "-1", "0..100000"},
      {"LOG_BACKTRACE", "100001", "0..100000"},
      {"LOG_BACKTRACE", "lots", "0..100000"},
      {"MONITORING_SERVER_THREADS", "0", "1..64"},
      {"MONITORING_MAX_CONNECTIONS", "0", "1..1000000"},
      {"MONITORING_MAX_CONNECTIONS_PER_CLIENT", "-1", "0..1000000"},
      {"MONITORING_MAX_HEADER_BYTES", "100", "1024..1048576"},
      {"MONITORING_READ_TIMEOUT_MS", "0", "milliseconds"},
      {"MONITORING_KEEP_ALIVE_TIMEOUT_MS", "1s", "milliseconds"},
      {"MONITORING_WRITE_TIMEOUT_MS", "-5", "milliseconds"},
      {"MONITORING_SHUTDOWN_GRACE_MS", "600001", "milliseconds"},
      {"MONITORING_DRAIN_MS", "-1", "milliseconds"},
      {"MONITORING_DRAIN_MS", "600001", "milliseconds"},
      {"LOG_CONSOLE", "syslog", "stderr, stdout or none"},
      {"METRICS_SERIES_LIMIT", "0", "1..10000000"},
  };
  for (const auto& [variable, value, expected] : cases) {
    const std::string message = error_for({{variable, value}});
    EXPECT_THAT(message, HasSubstr(variable + ": invalid value")) << variable << "=" << value;
    EXPECT_THAT(message, HasSubstr(expected)) << variable << "=" << value;
    // The value is echoed (these are not secrets), at least its start.
    EXPECT_THAT(message, HasSubstr(value.substr(0, 5))) << variable << "=" << value;
  }
}

TEST(MonitoringConfigFromEnv, ControlCharactersAreEscapedInMessages) {
  const std::string message = error_for({{"LOG_LEVEL", "INFO\x1b[31mX"}});
  EXPECT_THAT(message, HasSubstr("\\x1b"));
  EXPECT_EQ(message.find('\x1b'), std::string::npos);
}

TEST(MonitoringConfigFromEnv, LongValuesAreCut) {
  const std::string message = error_for({{"LOG_LEVEL", std::string(5000, 'x')}});
  EXPECT_LT(message.size(), 400u);
  EXPECT_THAT(message, HasSubstr("..."));
}

// --- secrets ------------------------------------------------------------------------------------

TEST(MonitoringConfigSecrets, BadTelegramTokenIsNeverShown) {
  for (const std::string token :
       {"123456-NOT-A-TOKEN-abcdef", "abc:def", "123456:has space", "123456:"}) {
    const std::string message = error_for({{"TELEGRAM_TOKEN", token}});
    EXPECT_THAT(message, HasSubstr("TELEGRAM_TOKEN")) << token;
    EXPECT_THAT(message, HasSubstr("[Filtered]")) << token;
    EXPECT_THAT(message, Not(HasSubstr(token))) << token;
    if (token.size() > 7) {
      EXPECT_THAT(message, Not(HasSubstr(token.substr(7)))) << token;
    }
  }
}

TEST(MonitoringConfigSecrets, BadAuthTokenIsNeverShown) {
  const std::string token = "super secret token\"with\"quotes";
  const std::string message = error_for({{"MONITORING_AUTH_TOKEN", token}});
  EXPECT_THAT(message, HasSubstr("MONITORING_AUTH_TOKEN"));
  EXPECT_THAT(message, Not(HasSubstr("super")));
  EXPECT_THAT(message, Not(HasSubstr("secret token")));
}

TEST(MonitoringConfigFromEnv, MalformedSentryDsnIsLeftForSetupToReport) {
  // Issue 5: a DSN Sentry cannot use does not stop monitoring; setup_monitoring logs it (see
  // SetupMonitoringSentry) and runs on without Sentry.
  for (const char* dsn :
       {"not a dsn", "https://publickey123:secretkey456@sentry.example.com/project",
        "ftp://pubkey999@sentry.example.com/42"})
    EXPECT_EQ(from({{"SENTRY_DSN", dsn}}).sentry_dsn, dsn);
}

TEST(MonitoringConfigSecrets, PasswordsInUrlsAreRedacted) {
  const std::string database = error_for({{"DATABASE_URL", "mysql://bot:dbpass123@db/bot"}});
  EXPECT_THAT(database, HasSubstr("DATABASE_URL"));
  EXPECT_THAT(database, HasSubstr("db/bot"));
  EXPECT_THAT(database, Not(HasSubstr("dbpass123")));

  const std::string conninfo = error_for({{"DATABASE_URL", "=broken password=dbpass123 host=db"}});
  EXPECT_THAT(conninfo, Not(HasSubstr("dbpass123")));

  const std::string redis = error_for({{"REDIS_URL", "redis://:redispass77@cache:6379/x"}});
  EXPECT_THAT(redis, HasSubstr("REDIS_URL"));
  EXPECT_THAT(redis, Not(HasSubstr("redispass77")));

  const std::string panel =
      error_for({{"PANEL_URL", "ftp://admin:panelpass@panel/api?token=tok999"}});
  EXPECT_THAT(panel, Not(HasSubstr("panelpass")));
  EXPECT_THAT(panel, Not(HasSubstr("tok999")));

  const std::string telegram = error_for(
      {{"TELEGRAM_API_URL", "ws://api.telegram.org/bot123456:AAHsecretsecretsecret12345/getMe"}});
  EXPECT_THAT(telegram, Not(HasSubstr("AAHsecretsecret")));
}

// --- SENTRY_CACHE_DIR ----------------------------------------------------------------------

namespace fs = std::filesystem;

/// A fresh directory for one test, removed at the end.
struct TempDir {
  TempDir() {
    path = fs::temp_directory_path() /
           ("monitoring-config-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::permissions(path, fs::perms::owner_all, ignored);
    fs::remove_all(path, ignored);
  }
  fs::path path;
};

constexpr const char* kDsn = "https://key@sentry.example.com/42";

// Checked by path, not by permissions: a regular file where a directory should be fails even
// for root (CI runs as root), with ENOTDIR for anything below it.
TEST(MonitoringConfigSentryCacheDir, ARegularFileOnThePathIsRefused) {
  const TempDir temp;
  const fs::path file = temp.path / "file";
  std::ofstream(file) << "x";
  for (const fs::path& dir : {file / "cache", file / "a" / "b", file}) {
    const std::string message = error_for({{"SENTRY_DSN", kDsn}, {"SENTRY_CACHE_DIR", dir}});
    EXPECT_THAT(message, HasSubstr("SENTRY_CACHE_DIR: invalid value \"" + dir.string() + "\""));
    EXPECT_THAT(message, HasSubstr("is not a directory")) << message;
    if (dir != file) {
      EXPECT_THAT(message, HasSubstr("\"" + file.string() + "\" is not a directory"));
    }

    MonitoringConfig config;
    config.sentry_dsn = kDsn;
    config.sentry_cache_dir = dir.string();
    EXPECT_THAT(validate_error(config), ::testing::StartsWith("sentry_cache_dir: invalid value"));
    // Without a DSN Sentry is off and the directory never used.
    config.sentry_dsn = "";
    EXPECT_NO_THROW(config.validate());
  }
  EXPECT_EQ(from({{"SENTRY_CACHE_DIR", (file / "cache").string()}}).sentry_cache_dir,
            (file / "cache").string());
}

TEST(MonitoringConfigSentryCacheDir, ExistingOrCreatableDirectoriesAreAccepted) {
  const TempDir temp;
  for (const fs::path& dir : {temp.path, temp.path / "new", temp.path / "new" / "deeper"})
    EXPECT_EQ(from({{"SENTRY_DSN", kDsn}, {"SENTRY_CACHE_DIR", dir}}).sentry_cache_dir, dir) << dir;
  EXPECT_FALSE(fs::exists(temp.path / "new")) << "the check must not create the directory";
  MonitoringConfig config;
  config.sentry_dsn = kDsn;  // the default, ".sentry" under the working directory
  EXPECT_NO_THROW(config.validate());
}

// Permissions do not stop root, so as root the check runs in a child that gave root up.
TEST(MonitoringConfigSentryCacheDir, AnUnwritableDirectoryIsRefused) {
  const TempDir temp;
  const fs::path locked = temp.path / "locked";
  fs::create_directories(locked);
  fs::permissions(temp.path, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::others_read |
                              fs::perms::others_exec);
  const auto check = [&]() -> int {
    const std::string unwritable = error_for({{"SENTRY_DSN", kDsn}, {"SENTRY_CACHE_DIR", locked}});
    if (unwritable.find("SENTRY_CACHE_DIR: invalid value \"" + locked.string() + "\"") ==
        std::string::npos)
      return 1;
    if (unwritable.find("the directory is not writable") == std::string::npos) return 2;
    const std::string uncreatable =
        error_for({{"SENTRY_DSN", kDsn}, {"SENTRY_CACHE_DIR", locked / "cache"}});
    if (uncreatable.find("cannot be created in \"" + locked.string() + "\"") == std::string::npos)
      return 3;
    return 0;
  };
  if (::geteuid() != 0) {
    EXPECT_EQ(check(), 0);
    return;
  }
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
    ::_exit(check());
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1 variable or value not named, 2 no 'not writable', "
                                       "3 no 'cannot be created in', 10 setuid failed";
}

// --- validate() on a config built in code --------------------------------------------------------

TEST(MonitoringConfigValidate, NamesTheField) {
  struct Case {
    std::function<void(MonitoringConfig&)> mutate;
    std::string field, expected;
  };
  const std::vector<Case> cases = {
      {[](MonitoringConfig& c) { c.log_level = "LOUD"; }, "log_level", "\"LOUD\""},
      {[](MonitoringConfig& c) { c.log_dir = ""; }, "log_dir", "must not be empty"},
      {[](MonitoringConfig& c) { c.sentry_environment = "has space"; }, "sentry_environment",
       "Sentry environment"},
      {[](MonitoringConfig& c) { c.sentry_traces_sample_rate = 1.01; }, "sentry_traces_sample_rate",
       "1.01"},
      {[](MonitoringConfig& c) { c.sentry_traces_sample_rate = std::nan(""); },
       "sentry_traces_sample_rate", "0 and 1"},
      {[](MonitoringConfig& c) { c.monitoring_host = ""; }, "monitoring_host", "must not be empty"},
      {[](MonitoringConfig& c) { c.monitoring_host = "my-host"; }, "monitoring_host",
       "\"my-host\""},
      {[](MonitoringConfig& c) { c.monitoring_port = 70000; }, "monitoring_port", "70000"},
      {[](MonitoringConfig& c) { c.monitoring_port = -1; }, "monitoring_port", "-1"},
      {[](MonitoringConfig& c) { c.database_url = "sqlite:///bot.db"; }, "database_url",
       "postgresql"},
      {[](MonitoringConfig& c) { c.redis_url = "http://cache"; }, "redis_url", "redis://"},
      {[](MonitoringConfig& c) { c.telegram_token = "nope"; }, "telegram_token", "[Filtered]"},
      {[](MonitoringConfig& c) { c.panel_url = "panel"; }, "panel_url", "http"},
      {[](MonitoringConfig& c) {
         c.payment_systems = {{"yookassa", "mailto:x"}};
       },
       "payment_systems[yookassa]", "http"},
      {[](MonitoringConfig& c) {
         c.payment_systems = {{"", "https://x.ru"}};
       },
       "payment_systems", "payment system name"},
      {[](MonitoringConfig& c) { c.telegram_api_url = ""; }, "telegram_api_url",
       "must not be empty"},
      {[](MonitoringConfig& c) { c.migrations_table = "x;y"; }, "migrations_table", "\"x;y\""},
      {[](MonitoringConfig& c) { c.migrations_expected_version = "1\n2"; },
       "migrations_expected_version", "control"},
      {[](MonitoringConfig& c) { c.sentry_release = "a/b"; }, "sentry_release", "Sentry release"},
      {[](MonitoringConfig& c) { c.sentry_cache_dir = ""; }, "sentry_cache_dir",
       "must not be empty"},
      {[](MonitoringConfig& c) { c.sentry_sample_rate = -1; }, "sentry_sample_rate", "-1"},
      {[](MonitoringConfig& c) {
         c.log_levels = {{"payment", "LOUD"}};
       },
       "log_levels[payment]", "log level"},
      {[](MonitoringConfig& c) {
         c.log_levels = {{"bad module", "INFO"}};
       },
       "log_levels", "module name"},
      {[](MonitoringConfig& c) { c.log_backup_count = -2; }, "log_backup_count", "-2"},
      {[](MonitoringConfig& c) { c.log_backtrace = 200000; }, "log_backtrace", "200000"},
      {[](MonitoringConfig& c) { c.monitoring_auth_token = "two words"; }, "monitoring_auth_token",
       "[Filtered]"},
      {[](MonitoringConfig& c) { c.server_threads = 0; }, "server_threads", "1..64"},
      {[](MonitoringConfig& c) { c.max_connections = 0; }, "max_connections", "0"},
      {[](MonitoringConfig& c) { c.max_connections_per_client = 2'000'000; },
       "max_connections_per_client", "2000000"},
      {[](MonitoringConfig& c) { c.max_header_bytes = 10; }, "max_header_bytes", "10"},
      {[](MonitoringConfig& c) { c.read_timeout = std::chrono::milliseconds(0); }, "read_timeout",
       "milliseconds"},
      {[](MonitoringConfig& c) { c.keep_alive_timeout = std::chrono::milliseconds(-1); },
       "keep_alive_timeout", "-1"},
      {[](MonitoringConfig& c) { c.write_timeout = std::chrono::hours(2); }, "write_timeout",
       "7200000"},
      {[](MonitoringConfig& c) { c.shutdown_grace = std::chrono::milliseconds(-1); },
       "shutdown_grace", "-1"},
      {[](MonitoringConfig& c) { c.metrics_series_limit = 0; }, "metrics_series_limit",
       "1..10000000"},
  };
  for (const auto& [mutate, field, expected] : cases) {
    MonitoringConfig config;
    mutate(config);
    const std::string message = validate_error(config);
    EXPECT_THAT(message, ::testing::StartsWith(field + ": invalid value")) << field;
    EXPECT_THAT(message, HasSubstr(expected)) << field;
  }
}

TEST(MonitoringConfigValidate, SecretsStayOutOfFieldErrors) {
  MonitoringConfig config;
  config.telegram_token = "123456:bad token with spaces";
  EXPECT_THAT(validate_error(config), Not(HasSubstr("bad token")));
  config = MonitoringConfig{};
  config.monitoring_auth_token = "zq9\"hiddenvalue";
  EXPECT_THAT(validate_error(config), Not(HasSubstr("hiddenvalue")));
}

TEST(MonitoringConfigValidate, EmptyDependenciesAreNotConfiguredNotErrors) {
  MonitoringConfig config;
  config.sentry_dsn = "";
  config.database_url = "";
  config.redis_url = "";
  config.telegram_token = "";
  config.panel_url = "";
  config.sentry_environment = "";
  config.sentry_release = "";
  config.monitoring_auth_token = "";
  config.payment_systems = {{"yookassa", ""}};
  EXPECT_NO_THROW(config.validate());
}

// --- the real environment ---------------------------------------------------------------------

/// Sets variables for one test and restores the previous values afterwards.
class ScopedEnvironment {
 public:
  explicit ScopedEnvironment(const Env& values) {
    for (const auto& [name, value] : values) {
      const char* previous = std::getenv(name.c_str());
      saved_.emplace_back(name, previous ? std::optional<std::string>(previous) : std::nullopt);
      ::setenv(name.c_str(), value.c_str(), 1);
    }
  }
  ~ScopedEnvironment() {
    for (const auto& [name, previous] : saved_) {
      if (previous)
        ::setenv(name.c_str(), previous->c_str(), 1);
      else
        ::unsetenv(name.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(MonitoringConfigProcessEnvironment, ReadsGetenv) {
  {
    ScopedEnvironment env(Env{{"LOG_LEVEL", "warn"},
                              {"MONITORING_PORT", "19191"},
                              {"PAYMENT_SYSTEMS", "yookassa=https://yookassa.ru"},
                              {"USE_JSON_LOGS", "0"}});
    const MonitoringConfig config = MonitoringConfig::from_env();
    EXPECT_EQ(config.log_level, "WARNING");
    EXPECT_EQ(config.monitoring_port, 19191);
    EXPECT_FALSE(config.use_json_logs);
    EXPECT_EQ(config.payment_systems.at("yookassa"), "https://yookassa.ru");
  }
  {
    ScopedEnvironment env(Env{{"MONITORING_PORT", "port"}});
    try {
      MonitoringConfig::from_env();
      ADD_FAILURE() << "no ConfigError";
    } catch (const ConfigError& error) {
      EXPECT_THAT(error.what(), HasSubstr("MONITORING_PORT"));
      EXPECT_THAT(error.what(), HasSubstr("\"port\""));
    }
  }
}

TEST(MonitoringConfigFromEnv, EmptySourceIsAnError) {
  EXPECT_THROW(MonitoringConfig::from_env(EnvSource{}), ConfigError);
}

}  // namespace
}  // namespace monitoring

namespace monitoring {
namespace {

// Every public options struct can be built with designated initializers naming only some
// members: this file compiles with -Wextra -Werror (missing-field-initializers).
TEST(OptionStructs, DesignatedInitializersNameOnlyWhatTheyChange) {
  const metrics::PushgatewayOptions push{.timeout = std::chrono::seconds(3)};
  EXPECT_EQ(push.timeout, std::chrono::seconds(3));
  EXPECT_TRUE(push.username.empty());
  const ScrubOptions scrub{.extra_keys = {"pin"}};
  EXPECT_EQ(scrub.extra_keys.size(), 1u);
  const logging::LoggingOptions logs{.level = logging::Level::kWarning, .log_dir = "/tmp/x"};
  EXPECT_EQ(logs.log_dir, "/tmp/x");
  const sentry::Options sentry_options{.dsn = "https://k@h/1"};
  EXPECT_EQ(sentry_options.dsn, "https://k@h/1");
  const MonitoringConfig config{.monitoring_port = 9100};
  EXPECT_EQ(config.monitoring_port, 9100);
}

}  // namespace
}  // namespace monitoring

namespace monitoring {
namespace {

TEST(MonitoringConfigFromEnv, StatusPageVariablesAreCheckedAndNamed) {
  const MonitoringConfig config =
      from({{"MONITORING_STATUS_PAGE", "off"}, {"MONITORING_STATUS_SAMPLE_MS", "2500"}});
  EXPECT_FALSE(config.status_page);
  EXPECT_EQ(config.status_sample_interval, std::chrono::milliseconds(2500));
  EXPECT_THAT(error_for({{"MONITORING_STATUS_SAMPLE_MS", "5"}}),
              ::testing::HasSubstr("MONITORING_STATUS_SAMPLE_MS"));
  EXPECT_THAT(error_for({{"MONITORING_STATUS_SAMPLE_MS", "10s"}}), ::testing::HasSubstr("10s"));
  EXPECT_THAT(error_for({{"MONITORING_STATUS_PAGE", "maybe"}}), ::testing::HasSubstr("maybe"));
}

}  // namespace
}  // namespace monitoring
