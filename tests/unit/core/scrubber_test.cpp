#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "monitoring/scrub.hpp"

namespace {

using monitoring::luhn_valid;
using monitoring::Scrubber;
using monitoring::ScrubOptions;

// A syntactically valid Telegram bot token: 9-digit bot id, 35-character secret.
const std::string kBotToken = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq";
const std::string kJwt =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

TEST(Scrubber, SensitiveKeys) {
  const Scrubber scrubber;
  for (const char* key : {"password",       "Password",
                          "user_password",  "DB_PASSWORD",
                          "passwd",         "pass",
                          "db_pass",        "client_secret",
                          "secretKey",      "token",
                          "access_token",   "refreshToken",
                          "X-Auth-Token",   "auth",
                          "basic_auth",     "authKey",
                          "Authorization",  "proxy-authorization",
                          "api_key",        "apiKey",
                          "x-api-key",      "APIKey",
                          "apikey",         "aws_access_key_id",
                          "cookie",         "Set-Cookie",
                          "session",        "session_id",
                          "sessionid",      "SESSION",
                          "user_session",   "credentials",
                          "private_key",    "privateKey",
                          "sentry_dsn",     "dsn",
                          "sentryDsn",      "card",
                          "card_number",    "cardNumber",
                          "cardnumber",     "credit_card",
                          "creditCard",     "cvv",
                          "cvv2",           "cvc",
                          "telegram_token", "TELEGRAM_TOKEN"}) {
    EXPECT_TRUE(scrubber.is_sensitive_key(key)) << key;
  }
}

TEST(Scrubber, NearMissKeysStay) {
  const Scrubber scrubber;
  for (const char* key : {"author",           "author_id",   "authority",
                          "is_authenticated", "discard",     "cardinality",
                          "scorecard",        "passenger",   "bypass",
                          "compass",          "possession",  "payment_id",
                          "amount",           "user_id",     "username",
                          "message",          "description", "keyboard",
                          "oauth_provider",   "pin_message", "",
                          "cards_total"}) {
    EXPECT_FALSE(scrubber.is_sensitive_key(key)) << key;
  }
}

struct ValueCase {
  std::string input;
  std::string expected;
};

TEST(Scrubber, SecretsInValuesAreFiltered) {
  const Scrubber scrubber;
  const std::vector<ValueCase> cases = {
      {"bot token " + kBotToken + " here", "bot token [Filtered] here"},
      {"https://api.telegram.org/bot" + kBotToken + "/getMe",
       "https://api.telegram.org/bot[Filtered]/getMe"},
      {"sent header Bearer abcdef1234567890", "sent header Bearer [Filtered]"},
      {"bearer\tabcdef1234567890xyz", "bearer\t[Filtered]"},
      {"Authorization: Bearer abcdef1234567890", "Authorization: [Filtered]"},
      {"card 4111 1111 1111 1111 charged", "card [Filtered] charged"},
      {"card 4111-1111-1111-1111", "card [Filtered]"},
      {"4111111111111111", "[Filtered]"},
      {"mc 5500000000000004, amex 378282246310005.", "mc [Filtered], amex [Filtered]."},
      {"qty 3 4111 1111 1111 1111", "qty 3 [Filtered]"},
      {"postgresql://bot:s3cr3t@localhost/bot", "postgresql://bot:[Filtered]@localhost/bot"},
      {"dsn https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/42",
       "dsn https://[Filtered]@o1.ingest.sentry.io/42"},
      {"GET /callback?token=abc123&page=2", "GET /callback?token=[Filtered]&page=2"},
      {"GET /cb?page=2&api_key=XYZ", "GET /cb?page=2&api_key=[Filtered]"},
      {"login failed password=hunter2 user=bob", "login failed password=[Filtered] user=bob"},
      {R"({"password": "hun\"ter2", "name": "bob"})",
       R"({"password": "[Filtered]", "name": "bob"})"},
      {R"({"card_number":4111111111111111})", R"({"card_number":[Filtered]})"},
      {"password: hunter2", "password: [Filtered]"},
      {"jwt " + kJwt + " ok", "jwt [Filtered] ok"},
      {"Cookie: session=abcdef; theme=dark", "Cookie: [Filtered]; theme=dark"},
  };
  for (const ValueCase& c : cases) {
    std::string out = "untouched";
    EXPECT_TRUE(scrubber.scrub(c.input, out)) << c.input;
    EXPECT_EQ(out, c.expected) << c.input;
  }
}

TEST(Scrubber, NearMissValuesStay) {
  const Scrubber scrubber;
  ASSERT_FALSE(luhn_valid("4111111111111112"));
  for (const char* text :
       {"order 4111111111111112 created",  // 16 digits, fails Luhn: an order id, not a card
        "author=Tolstoy",
        "the author wrote a book",
        "time 12:30:45",
        "eye contact",
        "bearer of bad news",
        "Bearer short",
        "payment 123 amount 1000",
        "version 1.0.0",
        "https://example.com/path?page=2&sort=asc",
        "redis://localhost:6379/0",
        "postgresql://bot@localhost/bot",
        "id 12345678901234567890123",
        "phone +7 999 123-45-67",
        "date 2024-06-01",
        "ratio=0.5 user=bob",
        "",
        "Привет, мир",
        "4111111111111111abc",
        "token_count is 5"}) {
    std::string out = "untouched";
    EXPECT_FALSE(scrubber.scrub(text, out)) << text << " -> " << out;
    EXPECT_EQ(out, "untouched");  // nothing written when nothing matched
  }
}

TEST(Scrubber, ScrubbingIsIdempotent) {
  const Scrubber scrubber;
  const std::string once =
      scrubber.scrubbed("password=abc token " + kBotToken + " 4111111111111111");
  EXPECT_EQ(once, "password=[Filtered] token [Filtered] [Filtered]");
  std::string again;
  EXPECT_FALSE(scrubber.scrub(once, again));
}

TEST(Scrubber, CardNumbersAsIntegers) {
  const Scrubber scrubber;
  EXPECT_TRUE(scrubber.is_card_number(4111111111111111ull));
  EXPECT_FALSE(scrubber.is_card_number(4111111111111112ull));
  EXPECT_FALSE(scrubber.is_card_number(123));
  EXPECT_FALSE(scrubber.is_card_number(42424242424ull));  // Luhn-valid but only 11 digits
}

TEST(Scrubber, Luhn) {
  EXPECT_TRUE(luhn_valid("79927398713"));
  EXPECT_FALSE(luhn_valid("79927398710"));
  EXPECT_FALSE(luhn_valid(""));
  EXPECT_FALSE(luhn_valid("4111-1111"));
}

TEST(Scrubber, ConfigurableKeysPrefixesAndSafeKeys) {
  ScrubOptions options;
  options.extra_keys = {"iban"};
  options.safe_keys = {"token_count"};
  options.value_prefixes = {"sk_live_", "ghp_"};
  const Scrubber scrubber(options);
  EXPECT_TRUE(scrubber.is_sensitive_key("payer_IBAN"));
  EXPECT_FALSE(scrubber.is_sensitive_key("token_count"));
  EXPECT_FALSE(scrubber.is_sensitive_key("TOKEN_COUNT"));
  EXPECT_TRUE(scrubber.is_sensitive_key("token_counter"));  // only the exact safe key is exempt
  EXPECT_EQ(scrubber.scrubbed("key sk_live_abcDEF123, other ghp_XYZ1 end"),
            "key [Filtered], other [Filtered] end");
  EXPECT_EQ(scrubber.scrubbed("iban=DE89370400440532013000"), "iban=[Filtered]");
  EXPECT_EQ(scrubber.scrubbed("mask_live_x"), "mask_live_x");  // a prefix only at a token start
}

TEST(Scrubber, RulesCanBeSwitchedOff) {
  ScrubOptions options;
  options.filter_card_numbers = false;
  options.filter_key_value_pairs = false;
  const Scrubber scrubber(options);
  EXPECT_EQ(scrubber.scrubbed("4111111111111111 password=x"), "4111111111111111 password=x");
  EXPECT_FALSE(scrubber.is_card_number(4111111111111111ull));
  EXPECT_EQ(scrubber.scrubbed("jwt " + kJwt), "jwt [Filtered]");
}

TEST(Scrubber, SharedInstanceCanBeReplaced) {
  const auto original = Scrubber::shared();
  ASSERT_NE(original, nullptr);
  ScrubOptions options;
  options.extra_keys = {"nickname"};
  Scrubber::set_shared(options);
  EXPECT_TRUE(Scrubber::shared()->is_sensitive_key("nickname"));
  EXPECT_FALSE(original->is_sensitive_key("nickname"));  // holders of the old one are unaffected
  Scrubber::set_shared(ScrubOptions{});
  EXPECT_FALSE(Scrubber::shared()->is_sensitive_key("nickname"));
}

TEST(Scrubber, UrlUserinfoIsRemovedFromWellFormedAndMalformedUrls) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"postgresql://app:S3cretPassw0rd@db/app", "postgresql://[Filtered]@db/app"},
      {"url \"postgresql://app:S3cretPassw0rd@db/app\" stray\"",
       "url \"postgresql://[Filtered]@db/app\" stray\""},
      {"'postgresql://app:S3cretPassw0rd@db/app", "'postgresql://[Filtered]@db/app"},
      {"redis://:S3cret/Passw0rd@127.0.0.1:6379", "redis://[Filtered]@127.0.0.1:6379"},
      {"https//admin:pw@h/x", "https//[Filtered]@h/x"},
      {"postgresql:/u:p@h", "postgresql:/[Filtered]@h"},
      {"redis://u:p?ss#w@host:6379/0", "redis://[Filtered]@host:6379/0"},
      {"redis://u:p#ss?w@host", "redis://[Filtered]@host"},
      {"https://key@o1.ingest.sentry.io/42", "https://[Filtered]@o1.ingest.sentry.io/42"},
      {"a redis://x:1@h and amqp://y:2@k end",
       "a redis://[Filtered]@h and amqp://[Filtered]@k end"},
      {"{\"url\":\"redis://u:p@h\"}", "{\"url\":\"redis://[Filtered]@h\"}"},
      {"//app:S3cretPassw0rd@h/app", "//[Filtered]@h/app"},  // scheme forgotten
      {"value \"//app:pw@h\"", "value \"//[Filtered]@h\""},
      {"url=//app:pw@h", "url=//[Filtered]@h"},
  };
  for (const auto& [input, expected] : cases)
    EXPECT_EQ(Scrubber::redact_url_userinfo(input), expected) << input;
}

TEST(Scrubber, UrlUserinfoRedactionLeavesOtherTextAlone) {
  for (const std::string text :
       {"no url here, mail bob@example.com", "https://example.com/path", "redis://h:6379/0",
        "path a/b//c", "12:30/day x@y", "//cdn.example.com/a@2x.png",
        "postgresql://[Filtered]@db/app", "redis://@host", ""}) {
    std::string out = "untouched";
    EXPECT_FALSE(Scrubber::redact_url_userinfo(text, out)) << text;
    EXPECT_EQ(out, "untouched");
    EXPECT_EQ(Scrubber::redact_url_userinfo(text), text);
  }
}

}  // namespace
