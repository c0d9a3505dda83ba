#include "sentry/event.hpp"

#include <gtest/gtest.h>

#include <string>

#include "sentry/ids.hpp"
#include "sentry/rate_limits.hpp"
#include "support/json_reader.hpp"

namespace sentry = monitoring::sentry;
namespace detail = monitoring::sentry::detail;
using Clock = std::chrono::steady_clock;

TEST(SentryRateLimits, RetryAfterAppliesToEveryCategory) {
  detail::RateLimits limits;
  monitoring::common::HttpHeaders headers;
  headers.add("Retry-After", "10");
  const auto now = Clock::now();
  limits.update(429, headers, now);
  EXPECT_TRUE(limits.limited("error", now + std::chrono::seconds(9)));
  EXPECT_TRUE(limits.limited("transaction", now + std::chrono::seconds(9)));
  EXPECT_FALSE(limits.limited("error", now + std::chrono::seconds(11)));
}

TEST(SentryRateLimits, MissingRetryAfterMeansSixtySeconds) {
  detail::RateLimits limits;
  const auto now = Clock::now();
  limits.update(429, {}, now);
  EXPECT_TRUE(limits.limited("error", now + std::chrono::seconds(59)));
  EXPECT_FALSE(limits.limited("error", now + std::chrono::seconds(61)));
  detail::RateLimits other;
  other.update(500, {}, now);
  EXPECT_FALSE(other.limited("error", now));
}

TEST(SentryRateLimits, SentryHeaderIsPerCategoryAndWinsOverRetryAfter) {
  detail::RateLimits limits;
  monitoring::common::HttpHeaders headers;
  headers.add("Retry-After", "1000");
  headers.add("X-Sentry-Rate-Limits",
              "60:transaction:key, 2700:default;error;security:organization");
  const auto now = Clock::now();
  limits.update(429, headers, now);
  EXPECT_TRUE(limits.limited("transaction", now + std::chrono::seconds(59)));
  EXPECT_FALSE(limits.limited("transaction", now + std::chrono::seconds(61)));
  EXPECT_TRUE(limits.limited("error", now + std::chrono::seconds(2000)));
  EXPECT_FALSE(limits.limited("error", now + std::chrono::seconds(2701)));
  EXPECT_FALSE(limits.limited("attachment", now));
  // Empty categories: all of them. Garbage groups are skipped, not fatal.
  detail::RateLimits all;
  monitoring::common::HttpHeaders h2;
  h2.add("X-Sentry-Rate-Limits", "nonsense, 5::organization");
  all.update(200, h2, now);
  EXPECT_TRUE(all.limited("error", now + std::chrono::seconds(4)));
  EXPECT_TRUE(all.limited("transaction", now + std::chrono::seconds(4)));
}

TEST(SentryEvent, StackTextFromTheLoggerBecomesFramesOldestFirst) {
  auto frames = detail::parse_stack_text(
      "#0 0x0000000000401000 in monitoring::logging::detail::capture_stack(void**, unsigned int)\n"
      "#1 0x0000000000401234 in payment::process(int) at /src/payment.cpp:42\n"
      "#2 0x0000000000405678 in ?? (/lib/x86_64-linux-gnu/libc.so.6+0x29d90)\n"
      "#3 0x0000000000409abc in main at /src/main.cpp:7");
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].function, "main");
  EXPECT_EQ(frames[0].filename, "/src/main.cpp");
  EXPECT_EQ(frames[0].lineno, 7);
  EXPECT_TRUE(frames[0].in_app);
  EXPECT_EQ(frames[1].package, "/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_FALSE(frames[1].in_app);
  EXPECT_EQ(frames[2].function, "payment::process(int)");
  EXPECT_EQ(frames[2].instruction_addr, 0x401234u);
  EXPECT_EQ(frames[2].lineno, 42);
}

TEST(SentryEvent, JsonCarriesEveryFieldAndParses) {
  sentry::Event event;
  event.event_id = detail::new_event_id();
  event.timestamp = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  event.level = sentry::Level::kWarning;
  event.logger = "payments";
  event.message = "payment \"failed\"\n";
  event.exceptions.push_back({"std::invalid_argument", "inner", {}});
  event.exceptions.push_back(
      {"std::runtime_error", "outer", {{0x1234, "main", "/a.cpp", 3, "", true}}});
  event.tags = {{"module", "payment"}};
  event.extra = {{"order", "17"}};
  event.user = {"7", "john", "", ""};
  event.contexts = {{"payment", {{"system", "yookassa"}}}};
  event.fingerprint = {"{{ default }}", "payments"};
  event.breadcrumbs.push_back(
      {event.timestamp, "default", "log", "started", sentry::Level::kInfo, {}});
  event.environment = "staging";
  event.release = "bot@1.0";
  event.server_name = "host1";
  event.trace_id = "0123456789abcdef0123456789abcdef";
  event.span_id = "0123456789abcdef";

  const auto json = test_json::parse(detail::event_json(event));
  EXPECT_EQ(json["event_id"].string.size(), 32u);
  EXPECT_EQ(json["timestamp"].string, "2023-11-14T22:13:20.000000Z");
  EXPECT_EQ(json["platform"].string, "native");
  EXPECT_EQ(json["level"].string, "warning");
  EXPECT_EQ(json["logger"].string, "payments");
  EXPECT_EQ(json["message"]["formatted"].string, "payment \"failed\"\n");
  const auto& values = json["exception"]["values"].array;
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0]["type"].string, "std::invalid_argument");
  EXPECT_EQ(values[0]["mechanism"]["source"].string, "nested");
  EXPECT_EQ(values[1]["type"].string, "std::runtime_error");
  EXPECT_EQ(values[1]["stacktrace"]["frames"].array[0]["function"].string, "main");
  EXPECT_EQ(values[1]["stacktrace"]["frames"].array[0]["instruction_addr"].string, "0x1234");
  EXPECT_EQ(json["tags"]["module"].string, "payment");
  EXPECT_EQ(json["extra"]["order"].string, "17");
  EXPECT_EQ(json["user"]["username"].string, "john");
  EXPECT_EQ(json["contexts"]["os"]["name"].string, "Linux");
  EXPECT_EQ(json["contexts"]["runtime"]["name"].string, "C++");
  EXPECT_EQ(json["contexts"]["trace"]["trace_id"].string, event.trace_id);
  EXPECT_EQ(json["contexts"]["payment"]["system"].string, "yookassa");
  EXPECT_EQ(json["fingerprint"].array.size(), 2u);
  EXPECT_EQ(json["breadcrumbs"]["values"].array[0]["message"].string, "started");
  EXPECT_EQ(json["environment"].string, "staging");
  EXPECT_EQ(json["release"].string, "bot@1.0");
  EXPECT_EQ(json["server_name"].string, "host1");
  EXPECT_EQ(json["sdk"]["name"].string, "monitoring-cpp");
}

TEST(SentryEvent, ScrubbingCoversMessagesExceptionsTagsExtraBreadcrumbsAndUser) {
  sentry::Event event;
  const std::string card = "4111 1111 1111 1111";
  event.message = "paid with " + card;
  event.exceptions.push_back({"E", "token=abcdefgh12345", {}});
  event.tags = {{"auth_token", "abc"}, {"url", "https://user:hunter2@example.com/"}};
  event.extra = {{"password", "p"}, {"note", "Bearer abcdefghijklmnop"}};
  event.breadcrumbs.push_back(
      {{}, "default", "log", "card " + card, sentry::Level::kInfo, {{"api_key", "k"}}});
  event.user.username = "card " + card;
  detail::scrub_event(event, monitoring::Scrubber());
  const std::string json = detail::event_json(event);
  for (const char* secret : {"4111", "abcdefgh12345", "hunter2", "abcdefghijklmnop"})
    EXPECT_EQ(json.find(secret), std::string::npos) << secret << " in " << json;
  EXPECT_EQ(event.tags[0].second, "[Filtered]");
  EXPECT_EQ(event.extra[0].second, "[Filtered]");
  EXPECT_EQ(event.breadcrumbs[0].data[0].second, "[Filtered]");
}

TEST(SentryEvent, EnvelopeHasHeaderAndLengthPrefixedItems) {
  const std::string payload = "{\"a\":\"\xc3\xa9\"}";
  const std::string envelope = detail::build_envelope("abc", {{"event", payload}});
  const auto first = envelope.find('\n');
  const auto header = test_json::parse(envelope.substr(0, first));
  EXPECT_EQ(header["event_id"].string, "abc");
  EXPECT_TRUE(header.has("sent_at"));
  const auto second = envelope.find('\n', first + 1);
  const auto item = test_json::parse(envelope.substr(first + 1, second - first - 1));
  EXPECT_EQ(item["type"].string, "event");
  EXPECT_EQ(item["length"].number, static_cast<double>(payload.size()));
  EXPECT_EQ(envelope.substr(second + 1), payload + "\n");
}

TEST(SentryEvent, ClientReportListsDiscards) {
  detail::DiscardCounts counts;
  counts[{"queue_overflow", "error"}] = 3;
  const auto json = test_json::parse(detail::client_report_json(counts));
  ASSERT_EQ(json["discarded_events"].array.size(), 1u);
  EXPECT_EQ(json["discarded_events"].array[0]["reason"].string, "queue_overflow");
  EXPECT_EQ(json["discarded_events"].array[0]["quantity"].number, 3);
}
