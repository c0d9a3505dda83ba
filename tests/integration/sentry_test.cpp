// The Sentry client against a local ingest server (tests/fixtures/sentry.sh) that parses
// every envelope with Sentry's own JavaScript parser (parseEnvelope from @sentry/core): if
// the reference implementation reads our envelopes, Sentry will.

#include "monitoring/sentry.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "integration/fixture.hpp"
#include "monitoring/context.hpp"
#include "support/json_reader.hpp"
#include "support/stack_overflow.hpp"

namespace sentry = monitoring::sentry;
using monitoring::testing::ChildProcess;
using monitoring::testing::eventually;
using monitoring::testing::Fixture;
using monitoring::testing::http_get;
using namespace std::chrono_literals;

namespace {

test_json::Value envelopes(const Fixture& ingest) {
  auto response = http_get(ingest.value("URL") + "/envelopes");
  if (response.status != 200) throw std::runtime_error("GET /envelopes: " + response.body);
  return test_json::parse(response.body);
}

/// The event payloads the server parsed, in arrival order.
std::vector<test_json::Value> events(const Fixture& ingest) {
  std::vector<test_json::Value> out;
  for (const auto& envelope : envelopes(ingest).array)
    for (const auto& item : envelope["items"].array)
      if (item.array[0]["type"].string == "event") out.push_back(item.array[1]);
  return out;
}

void control(const Fixture& ingest, const std::string& json) {
  monitoring::common::HttpRequest request;
  request.method = "POST";
  request.url = ingest.value("URL") + "/control";
  request.body = json;
  request.headers.add("Content-Type", "application/json");
  auto response = monitoring::common::http_request(request);
  if (response.status != 200) throw std::runtime_error("POST /control: " + response.body);
}

sentry::Options options_for(const Fixture& ingest) {
  sentry::Options options;
  options.dsn = ingest.value("DSN");
  options.environment = "integration";
  options.release = "monitoring@test";
  options.capture_logs = false;
  options.retry_backoff = 50ms;
  // These tests count event envelopes; SentrysParserReadsOurSessionUpdates has sessions on.
  options.auto_session_tracking = false;
  return options;
}

/// The session updates the server parsed, in arrival order, each with whether an event came
/// in the same envelope.
std::vector<std::pair<test_json::Value, bool>> session_updates(const Fixture& ingest) {
  std::vector<std::pair<test_json::Value, bool>> out;
  for (const auto& envelope : envelopes(ingest).array) {
    bool with_event = false;
    for (const auto& item : envelope["items"].array)
      with_event = with_event || item.array[0]["type"].string == "event";
    for (const auto& item : envelope["items"].array)
      if (item.array[0]["type"].string == "session") out.emplace_back(item.array[1], with_event);
  }
  return out;
}

/// Starts a client on `cache` as the next process would after a crash and returns the events
/// the ingest has once everything cached was sent.
std::vector<test_json::Value> resent_events(const Fixture& ingest,
                                            const std::filesystem::path& cache) {
  auto options = options_for(ingest);
  options.cache_dir = cache.string();
  sentry::init(options);
  EXPECT_TRUE(sentry::flush(10s));
  return events(ingest);
}

[[gnu::noinline]] void charge(int order) {
  try {
    throw std::invalid_argument("card declined for order " + std::to_string(order));
  } catch (...) {
    std::throw_with_nested(std::runtime_error("payment failed"));
  }
}

class SentryIngest : public ::testing::Test {
 protected:
  void TearDown() override { sentry::close(2s); }
};

}  // namespace

TEST_F(SentryIngest, SentrysParserReadsOurGzipEnvelopes) {
  Fixture ingest("sentry.sh");
  sentry::init(options_for(ingest));
  sentry::set_tag("component", "billing");
  std::string id;
  {
    auto user = monitoring::context::with_user(77, "kate");
    try {
      charge(5);
    } catch (...) {
      id = sentry::capture_exception(std::current_exception(), {{"module", "payment"}});
    }
  }
  ASSERT_TRUE(sentry::flush(10s));
  const auto all = envelopes(ingest);
  ASSERT_EQ(all.array.size(), 1u);
  const auto& envelope = all.array[0];
  EXPECT_EQ(envelope["project"].string, "42");
  EXPECT_EQ(envelope["content_encoding"].string, "gzip");
  EXPECT_EQ(envelope["content_type"].string, "application/x-sentry-envelope");
  EXPECT_NE(envelope["auth"].string.find("sentry_version=7"), std::string::npos);
  EXPECT_NE(envelope["auth"].string.find("sentry_key=0123456789abcdef0123456789abcdef"),
            std::string::npos);
  EXPECT_EQ(envelope["headers"]["event_id"].string, id);
  const auto& event = envelope["items"].array[0].array[1];
  EXPECT_EQ(event["event_id"].string, id);
  EXPECT_EQ(event["platform"].string, "native");
  EXPECT_EQ(event["environment"].string, "integration");
  EXPECT_EQ(event["release"].string, "monitoring@test");
  EXPECT_EQ(event["user"]["id"].string, "77");
  EXPECT_EQ(event["tags"]["module"].string, "payment");
  EXPECT_EQ(event["tags"]["component"].string, "billing");
  const auto& values = event["exception"]["values"].array;
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0]["type"].string, "std::invalid_argument");
  EXPECT_EQ(values[1]["value"].string, "payment failed");
  bool found_test_frame = false;
  for (const auto& frame : values[1]["stacktrace"]["frames"].array)
    found_test_frame =
        found_test_frame ||
        (frame.has("function") && frame["function"].string.find("TestBody") != std::string::npos);
  EXPECT_TRUE(found_test_frame);
}

TEST_F(SentryIngest, RetryAfterIsHonouredAndDropsAreReported) {
  Fixture ingest("sentry.sh");
  control(ingest, R"({"mode":"429","retry_after":"2","times":1})");
  sentry::init(options_for(ingest));
  sentry::capture_message("rejected");
  ASSERT_TRUE(sentry::flush(10s));
  sentry::capture_message("dropped while limited");
  ASSERT_TRUE(sentry::flush(10s));
  EXPECT_TRUE(events(ingest).empty());
  std::this_thread::sleep_for(2100ms);  // the point: the 2 s Retry-After runs out in real time
  sentry::capture_message("after the limit");
  ASSERT_TRUE(sentry::flush(10s));
  auto received = events(ingest);
  ASSERT_EQ(received.size(), 1u) << http_get(ingest.value("URL") + "/envelopes").body
                                 << http_get(ingest.value("URL") + "/stats").body;
  EXPECT_EQ(received[0]["message"]["formatted"].string, "after the limit");
  // The two lost events are reported as ratelimit_backoff client reports.
  double reported = 0;
  for (const auto& envelope : envelopes(ingest).array)
    for (const auto& item : envelope["items"].array)
      if (item.array[0]["type"].string == "client_report")
        for (const auto& d : item.array[1]["discarded_events"].array)
          if (d["reason"].string == "ratelimit_backoff") reported += d["quantity"].number;
  EXPECT_EQ(reported, 2);
}

TEST_F(SentryIngest, CategoryRateLimitHeader) {
  Fixture ingest("sentry.sh");
  control(ingest, R"({"mode":"429","rate_limits":"60:error:organization","times":1})");
  sentry::init(options_for(ingest));
  sentry::capture_message("one");
  ASSERT_TRUE(sentry::flush(10s));
  sentry::capture_message("two");
  ASSERT_TRUE(sentry::flush(10s));
  // Only the error category is limited: client reports about the drops still go out.
  EXPECT_TRUE(events(ingest).empty());
  EXPECT_EQ(sentry::stats().rate_limited, 2u);
  EXPECT_EQ(sentry::stats().sent, 0u);
}

TEST_F(SentryIngest, ServerErrorsAreRetried) {
  Fixture ingest("sentry.sh");
  control(ingest, R"({"mode":"500","times":2})");
  sentry::init(options_for(ingest));
  const std::string id = sentry::capture_message("survives two 500s");
  ASSERT_TRUE(sentry::flush(10s));
  auto received = events(ingest);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0]["event_id"].string, id);
}

TEST_F(SentryIngest, OfflineCacheIsSentOnTheNextStart) {
  const auto cache = std::filesystem::temp_directory_path() /
                     ("monitoring-sentry-it-cache-" + std::to_string(::getpid()));
  std::filesystem::remove_all(cache);
  Fixture ingest("sentry.sh");
  control(ingest, R"({"mode":"hang"})");
  auto options = options_for(ingest);
  options.cache_dir = cache.string();
  options.http_timeout = 500ms;
  options.max_retries = 1;
  sentry::init(options);
  const std::string id = sentry::capture_message("written while offline");
  ASSERT_TRUE(sentry::flush(10s));
  sentry::close(2s);
  ASSERT_FALSE(std::filesystem::is_empty(cache));

  control(ingest, R"({"mode":"ok"})");
  sentry::init(options);
  ASSERT_TRUE(sentry::flush(10s));
  auto received = events(ingest);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0]["event_id"].string, id);
  EXPECT_TRUE(std::filesystem::is_empty(cache));
  std::filesystem::remove_all(cache);
}

TEST_F(SentryIngest, TransactionsWithSpansAndTheirSamplingContext) {
  Fixture ingest("sentry.sh");
  auto options = options_for(ingest);
  options.traces_sample_rate = 1.0;
  sentry::init(options);
  std::string trace_id;
  {
    auto transaction = sentry::start_transaction("GET /pay", "http.server");
    trace_id = transaction.trace_id();
    auto query = sentry::start_span("db.query", "SELECT plan FROM subscriptions");
  }
  ASSERT_TRUE(sentry::flush(10s));
  const auto all = envelopes(ingest);
  ASSERT_EQ(all.array.size(), 1u);
  const auto& envelope = all.array[0];
  EXPECT_EQ(envelope["headers"]["trace"]["trace_id"].string, trace_id);
  EXPECT_EQ(envelope["headers"]["trace"]["transaction"].string, "GET /pay");
  const auto& item = envelope["items"].array[0];
  EXPECT_EQ(item.array[0]["type"].string, "transaction");
  const auto& tx = item.array[1];
  EXPECT_EQ(tx["contexts"]["trace"]["trace_id"].string, trace_id);
  ASSERT_EQ(tx["spans"].array.size(), 1u);
  EXPECT_EQ(tx["spans"].array[0]["op"].string, "db.query");
  EXPECT_EQ(tx["spans"].array[0]["parent_span_id"].string,
            tx["contexts"]["trace"]["span_id"].string);
}

TEST_F(SentryIngest, CrashInAChildProcessIsSentOnTheNextStart) {
  const auto cache = std::filesystem::temp_directory_path() /
                     ("monitoring-sentry-it-crash-" + std::to_string(::getpid()));
  std::filesystem::remove_all(cache);
  Fixture ingest("sentry.sh");
  const pid_t child = ::fork();
  if (child == 0) {
    auto options = options_for(ingest);
    options.cache_dir = cache.string();
    sentry::init(options);
    ::abort();
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGABRT);
  EXPECT_TRUE(events(ingest).empty()) << "the crash itself sends nothing";

  const auto received = resent_events(ingest, cache);
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0]["level"].string, "fatal");
  const auto& exception = received[0]["exception"]["values"].array.at(0);
  EXPECT_EQ(exception["type"].string, "SIGABRT");
  EXPECT_EQ(exception["mechanism"]["type"].string, "signalhandler");
  EXPECT_FALSE(exception["stacktrace"]["frames"].array.empty());
  std::filesystem::remove_all(cache);
}

TEST_F(SentryIngest, SentrysParserReadsOurSessionUpdates) {
  const auto cache = std::filesystem::temp_directory_path() /
                     ("monitoring-sentry-it-session-" + std::to_string(::getpid()));
  std::filesystem::remove_all(cache);
  Fixture ingest("sentry.sh");
  auto options = options_for(ingest);
  options.cache_dir = cache.string();
  options.auto_session_tracking = true;
  const pid_t child = ::fork();
  if (child == 0) {
    sentry::init(options);
    if (!sentry::flush(10s)) ::_exit(3);  // the init update is sent
    sentry::capture_message("payment failed", sentry::Level::kError);
    if (!sentry::flush(10s)) ::_exit(3);  // the error update is sent
    ::abort();
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  auto updates = session_updates(ingest);
  ASSERT_EQ(updates.size(), 2u);
  const std::string crashed_sid = updates[0].first["sid"].string;
  EXPECT_TRUE(updates[0].first["init"].boolean);
  EXPECT_EQ(updates[0].first["status"].string, "ok");
  EXPECT_EQ(updates[0].first["attrs"]["release"].string, "monitoring@test");
  EXPECT_EQ(updates[0].first["attrs"]["environment"].string, "integration");
  EXPECT_TRUE(updates[1].second) << "the error count goes with the error event";
  EXPECT_EQ(updates[1].first["errors"].number, 1);

  sentry::init(options);  // the next start
  ASSERT_TRUE(sentry::flush(10s));
  sentry::close(5s);
  updates = session_updates(ingest);
  ASSERT_EQ(updates.size(), 5u);  // the child's two, crashed, this run's init and exited
  std::size_t crashed = 0, exited = 0;
  for (const auto& [update, with_event] : updates) {
    if (update["status"].string == "crashed") {
      ++crashed;
      EXPECT_EQ(update["sid"].string, crashed_sid);
      EXPECT_TRUE(with_event) << "sent with the crash event";
      EXPECT_FALSE(update["init"].boolean);
      EXPECT_EQ(update["errors"].number, 2);
    }
    if (update["status"].string == "exited") {
      ++exited;
      EXPECT_NE(update["sid"].string, crashed_sid);
      EXPECT_GE(update["duration"].number, 0.0);
    }
  }
  EXPECT_EQ(crashed, 1u);
  EXPECT_EQ(exited, 1u);
  std::filesystem::remove_all(cache);
}

namespace {

using test_crash::overflow_stack;

/// Forks a child that starts Sentry caching into `cache`, runs `body` and is expected to die
/// of a signal; returns that signal.
template <class Body>
int crash_in_a_child(const Fixture& ingest, const std::filesystem::path& cache, Body body) {
  const pid_t child = ::fork();
  if (child == 0) {
    auto options = options_for(ingest);
    options.cache_dir = cache.string();
    sentry::init(options);
    body();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

}  // namespace

TEST_F(SentryIngest, StackOverflowOnAWorkerThreadIsSentOnTheNextStart) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer runtime owns SIGSEGV";
#endif
  const auto cache = std::filesystem::temp_directory_path() /
                     ("monitoring-sentry-it-overflow-" + std::to_string(::getpid()));
  std::filesystem::remove_all(cache);
  Fixture ingest("sentry.sh");
  const int signal = crash_in_a_child(ingest, cache, [] {
    // Not the thread that called init: its first use of the client arms its signal stack.
    std::thread worker([] {
      sentry::ThreadScope scope;
      sentry::add_breadcrumb({.category = "queue", .message = "job 7 started"});
      overflow_stack(0);
    });
    worker.join();
  });
  EXPECT_EQ(signal, SIGSEGV);
  EXPECT_TRUE(events(ingest).empty()) << "the crash itself sends nothing";

  const auto received = resent_events(ingest, cache);
  ASSERT_EQ(received.size(), 1u);
  const auto& event = received[0];
  EXPECT_EQ(event["level"].string, "fatal");
  const auto& exception = event["exception"]["values"].array.at(0);
  EXPECT_EQ(exception["type"].string, "SIGSEGV");
  EXPECT_EQ(exception["mechanism"]["type"].string, "signalhandler");
  bool overflow_frame = false;
  for (const auto& frame : exception["stacktrace"]["frames"].array)
    overflow_frame =
        overflow_frame || (frame.has("function") &&
                           frame["function"].string.find("overflow_stack") != std::string::npos);
  EXPECT_TRUE(overflow_frame);
  const auto& crumbs = event["breadcrumbs"]["values"].array;
  ASSERT_FALSE(crumbs.empty());
  EXPECT_EQ(crumbs.back()["message"].string, "job 7 started");
  std::filesystem::remove_all(cache);
}

TEST_F(SentryIngest, CrashEventCarriesTheBreadcrumbsUserAndTagsOfTheCrashedProcess) {
  const auto cache = std::filesystem::temp_directory_path() /
                     ("monitoring-sentry-it-crumbs-" + std::to_string(::getpid()));
  std::filesystem::remove_all(cache);
  Fixture ingest("sentry.sh");
  const int signal = crash_in_a_child(ingest, cache, [] {
    sentry::set_user({.id = "8080", .username = "buyer"});
    sentry::set_tag("shop", "main");
    sentry::add_breadcrumb({.type = "http",
                            .category = "yookassa",
                            .message = "POST /v3/payments",
                            .level = sentry::Level::kInfo,
                            .data = {{"status_code", "500"}, {"attempt", "2"}}});
    sentry::add_breadcrumb({.category = "payment", .message = "card 4111 1111 1111 1111 declined"});
    ::abort();
  });
  EXPECT_EQ(signal, SIGABRT);

  const auto received = resent_events(ingest, cache);
  ASSERT_EQ(received.size(), 1u);
  const auto& event = received[0];
  EXPECT_EQ(event["exception"]["values"].array.at(0)["type"].string, "SIGABRT");
  EXPECT_EQ(event["user"]["id"].string, "8080");
  EXPECT_EQ(event["user"]["username"].string, "buyer");
  EXPECT_EQ(event["tags"]["shop"].string, "main");
  const auto& crumbs = event["breadcrumbs"]["values"].array;
  ASSERT_GE(crumbs.size(), 2u);
  const auto& http = crumbs[crumbs.size() - 2];
  EXPECT_EQ(http["type"].string, "http");
  EXPECT_EQ(http["category"].string, "yookassa");
  EXPECT_EQ(http["message"].string, "POST /v3/payments");
  EXPECT_EQ(http["data"]["status_code"].string, "500");
  EXPECT_FALSE(http["timestamp"].string.empty());
  const std::string card = crumbs.back()["message"].string;
  EXPECT_EQ(card.find("4111"), std::string::npos) << "scrubbed before sending: " << card;
  std::filesystem::remove_all(cache);
}

TEST(SentryDemo, SimulatedFailuresReachSentry) {
  const std::filesystem::path demo =
      monitoring::testing::binary_dir() / "examples" / "monitoring-demo";
#ifdef MONITORING_TEST_EXPECT_DEMO
  ASSERT_TRUE(std::filesystem::exists(demo)) << "demo not built: " << demo;
#else
  if (!std::filesystem::exists(demo)) GTEST_SKIP() << "built without examples: " << demo;
#endif
  Fixture ingest("sentry.sh");
  const auto work_dir = std::filesystem::temp_directory_path() /
                        ("monitoring-demo-sentry-" + std::to_string(::getpid()));
  std::filesystem::create_directories(work_dir);
  {
    ChildProcess service(
        {demo.string()},
        {"MONITORING_HOST=127.0.0.1",
         "MONITORING_PORT=" + std::to_string(monitoring::testing::pick_free_port()),
         "LOG_DIR=" + (work_dir / "logs").string(), "SENTRY_DSN=" + ingest.value("DSN"),
         "SENTRY_ENVIRONMENT=demo", "SENTRY_CACHE_DIR=" + (work_dir / "sentry").string(),
         "DEMO_SPEED=50", "DEMO_SEED=11"},
        (work_dir / "demo.log").string());
    EXPECT_TRUE(eventually([&] { return !events(ingest).empty(); }, 60s, 200ms))
        << "no event from the demo; see " << (work_dir / "demo.log");
  }
  auto received = events(ingest);
  ASSERT_FALSE(received.empty());
  EXPECT_EQ(received[0]["environment"].string, "demo");
  EXPECT_EQ(received[0]["level"].string, "error");
  std::filesystem::remove_all(work_dir);
}
