#include <gtest/gtest.h>

#include <string>

#include "monitoring/sentry.hpp"

namespace sentry = monitoring::sentry;

TEST(SentryDsn, ParsesHttpsWithDefaultPort) {
  auto dsn = sentry::Dsn::parse("https://abc123@o1.ingest.sentry.io/42");
  EXPECT_EQ(dsn.scheme, "https");
  EXPECT_EQ(dsn.public_key, "abc123");
  EXPECT_EQ(dsn.host, "o1.ingest.sentry.io");
  EXPECT_EQ(dsn.port, 0);
  EXPECT_EQ(dsn.path_prefix, "");
  EXPECT_EQ(dsn.project_id, "42");
  EXPECT_EQ(dsn.envelope_url(), "https://o1.ingest.sentry.io/api/42/envelope/");
}

TEST(SentryDsn, ParsesHttpPortPathPrefixAndSecret) {
  auto dsn = sentry::Dsn::parse("HTTP://pub:secret@127.0.0.1:9000/sentry/sub/7/");
  EXPECT_EQ(dsn.scheme, "http");
  EXPECT_EQ(dsn.public_key, "pub");
  EXPECT_EQ(dsn.port, 9000);
  EXPECT_EQ(dsn.path_prefix, "/sentry/sub");
  EXPECT_EQ(dsn.project_id, "7");
  EXPECT_EQ(dsn.envelope_url(), "http://127.0.0.1:9000/sentry/sub/api/7/envelope/");
  EXPECT_EQ(dsn.redacted(), "http://[Filtered]@127.0.0.1:9000/sentry/sub/7");
}

TEST(SentryDsn, ParsesIpv6Host) {
  auto dsn = sentry::Dsn::parse("http://k@[::1]:8080/3");
  EXPECT_EQ(dsn.host, "[::1]");
  EXPECT_EQ(dsn.envelope_url(), "http://[::1]:8080/api/3/envelope/");
}

namespace {
std::string error_of(const std::string& dsn) {
  try {
    sentry::Dsn::parse(dsn);
  } catch (const sentry::SentryError& error) {
    return error.what();
  }
  return "<no error>";
}
}  // namespace

TEST(SentryDsn, RejectsMalformedValuesNamingThemWithTheKeyRedacted) {
  const std::string key = "deadbeefdeadbeefdeadbeef";
  struct Case {
    std::string dsn;
    std::string reason;
  } cases[] = {
      {"", "empty"},
      {"ftp://" + key + "@host/1", "http or https"},
      {"https://host/1", "no public key"},
      {"https://" + key + "@/1", "no host"},
      {"https://" + key + "@host:0/1", "'0' is not a number 1..65535"},
      {"https://" + key + "@host:99999/1", "'99999'"},
      {"https://" + key + "@host:/1", "port is empty"},
      {"https://" + key + "@host", "no project id"},
      {"https://" + key + "@host/abc", "'abc' is not a number"},
      {"https://" + key + "@host/1?x=1", "query"},
      {"https://" + key + "@ho st/1", "space"},
      {key, "no scheme"},
  };
  for (const Case& c : cases) {
    const std::string message = error_of(c.dsn);
    EXPECT_NE(message.find(c.reason), std::string::npos) << c.dsn << " -> " << message;
    EXPECT_EQ(message.find(key), std::string::npos) << "key leaked: " << message;
    EXPECT_NE(message.find("invalid Sentry DSN"), std::string::npos) << message;
  }
  EXPECT_NE(error_of("https://" + key + "@host/abc").find("https://[Filtered]@host/abc"),
            std::string::npos);
}

TEST(SentryDsn, InitRejectsBadOptionsAndStaysDisabled) {
  EXPECT_THROW(sentry::init({.dsn = "nonsense"}), sentry::SentryError);
  EXPECT_FALSE(sentry::is_enabled());
  EXPECT_THROW(sentry::init({.dsn = "http://k@localhost:1/1", .sample_rate = 1.5}),
               sentry::SentryError);
  try {
    sentry::init({.dsn = "http://k@localhost:1/1", .traces_sample_rate = -0.5});
    FAIL() << "no error";
  } catch (const sentry::SentryError& error) {
    EXPECT_NE(std::string(error.what()).find("traces_sample_rate -0.5"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(sentry::init({.dsn = "http://k@localhost:1/1", .queue_size = 0}),
               sentry::SentryError);
  EXPECT_FALSE(sentry::is_enabled());
  // Disabled: the API is a no-op, not an error.
  EXPECT_EQ(sentry::capture_message("nothing"), "");
  EXPECT_TRUE(sentry::flush(std::chrono::milliseconds(10)));
  sentry::close();
}

TEST(SentryScope, RejectsBadKeysNamingThem) {
  try {
    sentry::set_tag("has space", "x");
    FAIL() << "no error";
  } catch (const sentry::SentryError& error) {
    EXPECT_NE(std::string(error.what()).find("'has space'"), std::string::npos);
  }
  EXPECT_THROW(sentry::set_tag("", "x"), sentry::SentryError);
  EXPECT_THROW(sentry::set_tag(std::string(33, 'k'), "x"), sentry::SentryError);
  EXPECT_THROW(sentry::set_context("", {{"a", "b"}}), sentry::SentryError);
  EXPECT_THROW(sentry::set_extra("", "b"), sentry::SentryError);
  sentry::ThreadScope scope;
  EXPECT_THROW(scope.set_tag("bad key", "x"), sentry::SentryError);
}
