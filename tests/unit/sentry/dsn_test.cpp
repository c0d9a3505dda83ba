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

namespace {
/// The DsnError of `dsn` (fails the test when there is none).
sentry::DsnError dsn_error(const std::string& dsn) {
  try {
    sentry::Dsn::parse(dsn);
  } catch (const sentry::DsnError& error) {
    return error;
  }
  ADD_FAILURE() << "no DsnError for " << dsn;
  return sentry::DsnError("", "");
}
}  // namespace

TEST(SentryDsn, ErrorsAreTypedAndSayWhatIsWrong) {
  const std::string key = "0123456789abcdef0123456789abcdef";
  // The type: catchable as DsnError, SentryError, monitoring::Error and std::runtime_error.
  EXPECT_THROW(sentry::Dsn::parse("nonsense"), sentry::DsnError);
  EXPECT_THROW(sentry::Dsn::parse("nonsense"), monitoring::Error);

  const auto bad_project = dsn_error("https://" + key + "@o1.ingest.sentry.io/abc");
  EXPECT_EQ(bad_project.redacted_dsn(), "https://[Filtered]@o1.ingest.sentry.io/abc");
  EXPECT_EQ(bad_project.problem(), "the project id 'abc' is not a number");
  EXPECT_EQ(std::string(bad_project.what()),
            "invalid Sentry DSN 'https://[Filtered]@o1.ingest.sentry.io/abc': the project id "
            "'abc' is not a number (expected "
            "https://<public key>@<host>[:port][/path]/<project id>)");

  struct Case {
    std::string dsn;
    std::string problem;
  } cases[] = {
      {"https://" + key + "@host/1\n", "a line break at position 48 of 48"},
      {" https://" + key + "@host/1", "a space at position 1 of 48 (whitespace around the value?)"},
      {"https://" + key + "@ho\tst/1", "a tab at position 44"},
      {"https://" + key + "@host/1\x01", "a control character (0x01)"},
      {"ftp://" + key + "@host/1", "the scheme 'ftp' is not http or https"},
      {key + "@https://host/1", "the scheme must be http or https"},  // the key is not named
      {"https://" + key + "@/1", "the DSN has no host"},
      {"https://" + key + "@pay%20host/1", "the host 'pay%20host' has a character not allowed"},
      {"https://" + key + "@[::1/1", "unterminated IPv6 address"},
      {"https://ke!y@host/1", "the public key has a character other than"},
      {"https://:secret@host/1", "no public key"},
      {"https://" + key + "@host:https/1", "the port 'https' is not a number 1..65535"},
      {"https://" + key + "@host/1#frag", "query or fragment"},
      {"https://" + key + "@host/", "no project id"},
      {"https://" + key + "@host/-1", "the project id '-1' is not a number"},
  };
  for (const Case& c : cases) {
    const auto error = dsn_error(c.dsn);
    const std::string message = error.what();
    EXPECT_NE(error.problem().find(c.problem), std::string::npos) << c.dsn << " -> " << message;
    EXPECT_EQ(message.find(key), std::string::npos) << "key leaked: " << message;
    EXPECT_EQ(message.find("secret"), std::string::npos) << "secret leaked: " << message;
    EXPECT_EQ(message.rfind("invalid Sentry DSN '", 0), 0u) << message;
  }
}

TEST(SentryDsn, TheKeyIsRedactedUpToTheLastAt) {
  // A stray '@' in the key part must not reveal the rest of it.
  const auto error = dsn_error("https://abc@def@host/x");
  EXPECT_EQ(error.redacted_dsn(), "https://[Filtered]@host/x");
  // No scheme but an '@': the key part is still hidden; no '@' at all: nothing is shown.
  EXPECT_EQ(dsn_error("abc@host/1").redacted_dsn(), "[Filtered]@host/1");
  EXPECT_EQ(dsn_error("0123456789abcdef").redacted_dsn(), "[Filtered]");
}

TEST(SentryDsn, InitWithAMalformedDsnThrowsDsnErrorAndLeavesTheRunningClientAlone) {
  sentry::init({.dsn = "http://k@127.0.0.1:9/1", .capture_logs = false});
  ASSERT_TRUE(sentry::is_enabled());
  try {
    sentry::init({.dsn = "https://k@host/not-a-number"});
    FAIL() << "no error";
  } catch (const sentry::DsnError& error) {
    EXPECT_EQ(error.problem(), "the project id 'not-a-number' is not a number");
  }
  EXPECT_TRUE(sentry::is_enabled()) << "a bad DSN must not stop the client that runs";
  sentry::close(std::chrono::milliseconds(200));
  EXPECT_FALSE(sentry::is_enabled());
}
