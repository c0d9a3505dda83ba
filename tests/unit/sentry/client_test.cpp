#include "sentry/client.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ingest_peer.hpp"
#include "monitoring/context.hpp"
#include "monitoring/logging.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"
#include "monitoring/sentry.hpp"
#include "support/stack_overflow.hpp"

namespace sentry = monitoring::sentry;
using sentry_test::IngestPeer;
using sentry_test::wait_for;
using namespace std::chrono_literals;

namespace {

sentry::Options options_for(const IngestPeer& peer) {
  sentry::Options options;
  options.dsn = peer.dsn();
  options.environment = "test";
  options.release = "monitoring-tests@1";
  options.capture_logs = false;
  options.retry_backoff = 20ms;
  options.http_timeout = 2000ms;
  // These tests count the requests of events; sessions have their own (session_test.cpp).
  options.auto_session_tracking = false;
  return options;
}

/// Closes the client and clears the global scope whatever a test did.
class SentryClient : public ::testing::Test {
 protected:
  void TearDown() override {
    sentry::close(2s);
    sentry::set_user({});
    sentry::set_fingerprint({});
  }
};

[[gnu::noinline]] void failing_payment(int id) {
  try {
    throw std::invalid_argument("card declined for order " + std::to_string(id));
  } catch (...) {
    std::throw_with_nested(std::runtime_error("payment failed"));
  }
}

/// The value of one series of the default registry (0 when absent).
double series_value(const std::string& series) {
  const std::string text =
      monitoring::metrics::serialize(monitoring::metrics::Registry::default_registry());
  const auto pos = text.find(series + " ");
  return pos == std::string::npos ? 0.0 : std::stod(text.substr(pos + series.size() + 1));
}

std::string frame_functions(const test_json::Value& exception) {
  std::string out;
  for (const auto& frame : exception["stacktrace"]["frames"].array)
    if (frame.has("function")) out += frame["function"].string + "\n";
  return out;
}

}  // namespace

TEST_F(SentryClient, CapturesExceptionChainFramesScopeAndContext) {
  IngestPeer peer;
  sentry::init(options_for(peer));
  sentry::set_tag("component", "billing");
  sentry::set_context("payment", {{"system", "yookassa"}});
  sentry::add_breadcrumb({.category = "ui", .message = "clicked pay"});
  std::string id;
  {
    auto user = monitoring::context::with_user(123, "john");
    auto request = monitoring::context::with_request_id("req-1");
    auto trace =
        monitoring::context::with_trace("0123456789abcdef0123456789abcdef", "89abcdef01234567");
    sentry::ThreadScope scope;
    scope.set_tag("handler", "pay");
    try {
      failing_payment(17);
    } catch (...) {
      id = sentry::capture_exception(std::current_exception(), {{"module", "payment"}});
    }
  }
  ASSERT_EQ(id.size(), 32u);
  ASSERT_TRUE(sentry::flush(5s));
  auto envelopes = peer.with_item("event");
  ASSERT_EQ(envelopes.size(), 1u);
  const auto& envelope = envelopes[0];
  EXPECT_EQ(envelope.target, "/api/42/envelope/");
  EXPECT_NE(envelope.auth.find("sentry_version=7"), std::string::npos) << envelope.auth;
  EXPECT_NE(envelope.auth.find("sentry_key=0123456789abcdef0123456789abcdef"), std::string::npos);
  EXPECT_NE(envelope.auth.find("sentry_client=monitoring-cpp/"), std::string::npos);
  EXPECT_EQ(envelope.header["event_id"].string, id);
  const auto& event = *envelope.item("event");
  EXPECT_EQ(event["event_id"].string, id);
  EXPECT_EQ(event["level"].string, "error");
  EXPECT_EQ(event["environment"].string, "test");
  EXPECT_EQ(event["release"].string, "monitoring-tests@1");
  EXPECT_FALSE(event["server_name"].string.empty());
  const auto& values = event["exception"]["values"].array;
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0]["type"].string, "std::invalid_argument");
  EXPECT_EQ(values[0]["value"].string, "card declined for order 17");
  EXPECT_EQ(values[1]["type"].string, "std::runtime_error");
  EXPECT_EQ(values[1]["value"].string, "payment failed");
  const std::string functions = frame_functions(values[1]);
  EXPECT_NE(
      functions.find("SentryClient_CapturesExceptionChainFramesScopeAndContext_Test::TestBody"),
      std::string::npos)
      << functions;
  EXPECT_EQ(functions.find("capture_stack"), std::string::npos) << functions;
  EXPECT_EQ(event["tags"]["module"].string, "payment");
  EXPECT_EQ(event["tags"]["component"].string, "billing");
  EXPECT_EQ(event["tags"]["handler"].string, "pay");
  EXPECT_EQ(event["tags"]["request_id"].string, "req-1");
  EXPECT_EQ(event["user"]["id"].string, "123");
  EXPECT_EQ(event["user"]["username"].string, "john");
  EXPECT_EQ(event["contexts"]["trace"]["trace_id"].string, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(event["contexts"]["payment"]["system"].string, "yookassa");
  EXPECT_TRUE(event["contexts"].has("os"));
  EXPECT_TRUE(event["contexts"].has("runtime"));
  const auto& crumbs = event["breadcrumbs"]["values"].array;
  ASSERT_FALSE(crumbs.empty());
  EXPECT_EQ(crumbs.back()["message"].string, "clicked pay");
}

TEST_F(SentryClient, ThreadScopeEndsWithItsLifetimeAndGlobalUserApplies) {
  IngestPeer peer;
  sentry::init(options_for(peer));
  sentry::set_user({.id = "42", .email = "a@example.com"});
  sentry::set_fingerprint({"fixed-group"});
  {
    sentry::ThreadScope scope;
    scope.set_tag("inner", "yes");
    sentry::capture_message("inside", sentry::Level::kWarning);
  }
  sentry::capture_message("outside");
  ASSERT_TRUE(sentry::flush(5s));
  auto envelopes = peer.with_item("event");
  ASSERT_EQ(envelopes.size(), 2u);
  const auto& inside = *envelopes[0].item("event");
  const auto& outside = *envelopes[1].item("event");
  EXPECT_EQ(inside["message"]["formatted"].string, "inside");
  EXPECT_EQ(inside["level"].string, "warning");
  EXPECT_EQ(inside["tags"]["inner"].string, "yes");
  EXPECT_FALSE(outside.has("tags") && outside["tags"].has("inner"));
  EXPECT_EQ(outside["user"]["id"].string, "42");
  EXPECT_EQ(outside["fingerprint"].array[0].string, "fixed-group");
}

TEST_F(SentryClient, SampleRateZeroSendsNoEventButAClientReport) {
  IngestPeer peer;
  auto options = options_for(peer);
  options.sample_rate = 0.0;
  const std::string counter =
      "monitoring_sentry_events_dropped_total{reason=\"sample_rate\",category=\"error\"}";
  const double before = series_value(counter);
  sentry::init(options);
  EXPECT_EQ(sentry::capture_message("never"), "");
  EXPECT_EQ(sentry::capture_message("never"), "");
  EXPECT_EQ(series_value(counter), before + 2);
  ASSERT_TRUE(sentry::flush(5s));
  sentry::close(2s);  // the report goes out at the latest on close
  EXPECT_TRUE(peer.with_item("event").empty());
  auto reports = peer.with_item("client_report");
  ASSERT_EQ(reports.size(), 1u);
  const auto& discarded = (*reports[0].item("client_report"))["discarded_events"].array;
  ASSERT_EQ(discarded.size(), 1u);
  EXPECT_EQ(discarded[0]["reason"].string, "sample_rate");
  EXPECT_EQ(discarded[0]["quantity"].number, 2);
}

TEST_F(SentryClient, BeforeSendCanChangeOrDropAndScrubbingRunsAfterIt) {
  IngestPeer peer;
  auto options = options_for(peer);
  options.before_send = [](sentry::Event& event) {
    if (event.message == "drop me") return false;
    event.tags.emplace_back("seen_by", "before_send");
    event.extra.emplace_back("password", "hunter2");
    return true;
  };
  sentry::init(options);
  sentry::capture_message("drop me");
  sentry::capture_message("charge card 4111 1111 1111 1111 token=abcdef123456");
  sentry::close(5s);
  auto envelopes = peer.with_item("event");
  ASSERT_EQ(envelopes.size(), 1u);
  const auto& event = *envelopes[0].item("event");
  EXPECT_EQ(event["tags"]["seen_by"].string, "before_send");
  EXPECT_EQ(event["extra"]["password"].string, "[Filtered]");
  const std::string message = event["message"]["formatted"].string;
  EXPECT_EQ(message.find("4111"), std::string::npos) << message;
  EXPECT_EQ(message.find("abcdef123456"), std::string::npos) << message;
  bool reported = false;
  for (const auto& envelope : peer.with_item("client_report"))
    for (const auto& d : (*envelope.item("client_report"))["discarded_events"].array)
      reported = reported || d["reason"].string == "before_send";
  EXPECT_TRUE(reported);
}

TEST_F(SentryClient, RateLimitStopsSendingUntilItEnds) {
  IngestPeer peer;
  peer.set_answer([](int number) -> monitoring::testing::CannedAnswer {
    if (number == 1)
      return {monitoring::testing::http_answer(429, "Too Many Requests", "{}",
                                               {{"Retry-After", "3600"}})};
    return {monitoring::testing::http_answer(200, "OK", "{}")};
  });
  sentry::init(options_for(peer));
  sentry::capture_message("first");
  ASSERT_TRUE(sentry::flush(5s));
  for (int i = 0; i < 3; ++i) sentry::capture_message("limited");
  ASSERT_TRUE(sentry::flush(5s));
  EXPECT_EQ(peer.requests(), 1);  // nothing else was even attempted
  auto stats = sentry::stats();
  EXPECT_EQ(stats.rate_limited, 4u);
  EXPECT_EQ(stats.sent, 0u);
}

TEST_F(SentryClient, CategoryRateLimitLeavesOtherCategoriesAlone) {
  IngestPeer peer;
  peer.set_answer([](int number) -> monitoring::testing::CannedAnswer {
    if (number == 1)
      return {monitoring::testing::http_answer(200, "OK", "{}",
                                               {{"X-Sentry-Rate-Limits", "3600:transaction:key"}})};
    return {monitoring::testing::http_answer(200, "OK", "{}")};
  });
  sentry::init(options_for(peer));
  sentry::capture_message("one");
  ASSERT_TRUE(sentry::flush(5s));
  sentry::capture_message("two");
  ASSERT_TRUE(sentry::flush(5s));
  EXPECT_EQ(peer.requests(), 2);
  EXPECT_EQ(sentry::stats().rate_limited, 0u);
}

TEST_F(SentryClient, ServerErrorsAreRetriedWithBackoff) {
  IngestPeer peer;
  peer.set_answer([](int number) -> monitoring::testing::CannedAnswer {
    if (number <= 2) return {monitoring::testing::http_answer(503, "Unavailable", "{}")};
    return {monitoring::testing::http_answer(200, "OK", "{}")};
  });
  sentry::init(options_for(peer));
  const std::string id = sentry::capture_message("eventually");
  ASSERT_TRUE(sentry::flush(10s));
  auto envelopes = peer.with_item("event");
  ASSERT_EQ(envelopes.size(), 1u);
  EXPECT_EQ(envelopes[0].header["event_id"].string, id);
  EXPECT_EQ(peer.requests(), 3);
  EXPECT_EQ(sentry::stats().retries, 2u);
}

TEST_F(SentryClient, FullQueueDropsAndReportsOverflow) {
  IngestPeer peer;
  peer.set_answer([](int number) -> monitoring::testing::CannedAnswer {
    if (number == 1) std::this_thread::sleep_for(300ms);  // hold the worker on the first send
    return {monitoring::testing::http_answer(200, "OK", "{}")};
  });
  auto options = options_for(peer);
  options.queue_size = 2;
  sentry::init(options);
  int accepted = 0;
  for (int i = 0; i < 10; ++i) accepted += sentry::capture_message("burst").empty() ? 0 : 1;
  EXPECT_LT(accepted, 10);
  ASSERT_TRUE(sentry::flush(10s));
  sentry::close(2s);
  std::uint64_t overflow = 0;
  for (const auto& envelope : peer.with_item("client_report"))
    for (const auto& d : (*envelope.item("client_report"))["discarded_events"].array)
      if (d["reason"].string == "queue_overflow")
        overflow += static_cast<std::uint64_t>(d["quantity"].number);
  EXPECT_EQ(overflow, static_cast<std::uint64_t>(10 - accepted));
}

TEST_F(SentryClient, UnsentEnvelopesAreCachedAndSentOnTheNextStart) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("monitoring-sentry-cache-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::string id;
  {
    IngestPeer down;
    down.set_answer([](int) -> monitoring::testing::CannedAnswer {
      return {monitoring::testing::http_answer(500, "Internal Server Error", "{}")};
    });
    auto options = options_for(down);
    options.cache_dir = dir.string();
    options.max_retries = 1;
    sentry::init(options);
    id = sentry::capture_message("kept for later");
    ASSERT_TRUE(sentry::flush(5s));
    sentry::close(2s);
    EXPECT_EQ(down.with_item("event").size(), 0u);
  }
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    files += entry.path().extension() == ".envelope";
  EXPECT_EQ(files, 1u);

  IngestPeer up;
  auto options = options_for(up);
  options.cache_dir = dir.string();
  sentry::init(options);
  ASSERT_TRUE(sentry::flush(5s));
  auto envelopes = up.with_item("event");
  ASSERT_EQ(envelopes.size(), 1u);
  EXPECT_EQ(envelopes[0].header["event_id"].string, id);
  EXPECT_EQ(sentry::stats().loaded_from_cache, 1u);
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  std::filesystem::remove_all(dir);
}

TEST_F(SentryClient, CacheIsBoundedOldestDropped) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("monitoring-sentry-bound-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  IngestPeer down;
  down.set_answer([](int) -> monitoring::testing::CannedAnswer {
    return {monitoring::testing::http_answer(502, "Bad Gateway", "{}")};
  });
  auto options = options_for(down);
  options.cache_dir = dir.string();
  options.max_cache_files = 2;
  options.max_retries = 0;
  sentry::init(options);
  for (int i = 0; i < 4; ++i) sentry::capture_message(std::string("m").append(std::to_string(i)));
  ASSERT_TRUE(sentry::flush(5s));
  sentry::close(2s);
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    files += entry.path().extension() == ".envelope";
  EXPECT_EQ(files, 2u);
  std::filesystem::remove_all(dir);
}

TEST_F(SentryClient, CloseIsBoundedWhenTheServerHangs) {
  auto peer = std::make_unique<IngestPeer>();
  peer->set_answer([](int) { return monitoring::testing::CannedAnswer{"", true}; });
  auto options = options_for(*peer);
  options.http_timeout = 10s;
  sentry::init(options);
  sentry::capture_message("stuck");
  ASSERT_TRUE(wait_for([&] { return peer->requests() == 1; }));
  const auto start = std::chrono::steady_clock::now();
  sentry::close(300ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_FALSE(sentry::is_enabled());
  // The thread close() left behind ends as soon as the connection drops.
  peer.reset();
  EXPECT_TRUE(wait_for([] { return sentry::detail::live_transport_threads() == 0; }));
}

namespace {
/// Logging to a temp dir for the logger-hook tests.
class LoggingOn {
 public:
  LoggingOn() {
    dir_ = std::filesystem::temp_directory_path() /
           ("monitoring-sentry-log-" + std::to_string(::getpid()));
    monitoring::logging::LoggingOptions options;
    options.log_dir = dir_.string();
    options.console = monitoring::logging::ConsoleTarget::kNone;
    monitoring::logging::configure(options);
  }
  ~LoggingOn() {
    monitoring::logging::shutdown();
    std::filesystem::remove_all(dir_);
  }
  std::string log_text() const {
    monitoring::logging::flush();
    std::ifstream in(dir_ / "app.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::filesystem::path dir_;
};

double errors_total(const std::string& type, const std::string& module) {
  const std::string text =
      monitoring::metrics::serialize(monitoring::metrics::Registry::default_registry());
  const std::string series = "errors_total{error_type=\"" + type + "\",module=\"" + module + "\"} ";
  const auto pos = text.find(series);
  return pos == std::string::npos ? 0.0 : std::stod(text.substr(pos + series.size()));
}
}  // namespace

TEST_F(SentryClient, LoggerRecordsBecomeBreadcrumbsAndEvents) {
  LoggingOn logging;
  IngestPeer peer;
  auto options = options_for(peer);
  options.capture_logs = true;
  sentry::init(options);
  monitoring::logging::StructuredLogger logger("payments");
  logger.debug("too low for a breadcrumb");
  logger.info("charging", {{"payment_id", 5}});
  {
    auto user = logger.with_user(9, "ann");
    try {
      throw std::out_of_range("no such plan");
    } catch (...) {
      logger.exception("charge failed", {{"payment_id", 5}});
    }
  }
  monitoring::logging::flush();
  ASSERT_TRUE(wait_for([&] { return peer.with_item("event").size() == 1; }));
  ASSERT_TRUE(sentry::flush(5s));
  const auto envelopes = peer.with_item("event");
  const auto& event = *envelopes[0].item("event");
  EXPECT_EQ(event["logger"].string, "payments");
  EXPECT_EQ(event["message"]["formatted"].string, "charge failed");
  EXPECT_EQ(event["user"]["id"].string, "9");
  EXPECT_EQ(event["extra"]["payment_id"].string, "5");
  const auto& values = event["exception"]["values"].array;
  ASSERT_EQ(values.size(), 1u);
  EXPECT_EQ(values[0]["type"].string, "std::out_of_range");
  EXPECT_EQ(values[0]["value"].string, "no such plan");
  EXPECT_FALSE(values[0]["stacktrace"]["frames"].array.empty());
  std::string crumbs;
  for (const auto& crumb : event["breadcrumbs"]["values"].array)
    crumbs += crumb["message"].string + ";";
  EXPECT_NE(crumbs.find("charging;"), std::string::npos) << crumbs;
  EXPECT_EQ(crumbs.find("too low"), std::string::npos) << crumbs;
}

TEST_F(SentryClient, ErrorHandlerCapturesCountsLogsOnceAndRethrows) {
  LoggingOn logging;
  IngestPeer peer;
  auto options = options_for(peer);
  options.capture_logs = true;
  sentry::init(options);
  const double before = errors_total("std::domain_error", "payment");
  auto process = sentry::error_handler({{"module", "payment"}}, [](int id) -> int {
    if (id < 0) throw std::domain_error("negative id " + std::to_string(id));
    return id * 2;
  });
  EXPECT_EQ(process(21), 42);
  EXPECT_THROW(process(-1), std::domain_error);
  EXPECT_EQ(errors_total("std::domain_error", "payment"), before + 1);
  monitoring::logging::flush();
  ASSERT_TRUE(wait_for([&] { return peer.with_item("event").size() >= 1; }));
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(sentry::flush(5s));
  auto events = peer.with_item("event");
  ASSERT_EQ(events.size(), 1u);  // the log record of the same failure is not a second event
  const auto& event = *events[0].item("event");
  EXPECT_EQ(event["tags"]["module"].string, "payment");
  EXPECT_EQ(event["exception"]["values"].array[0]["value"].string, "negative id -1");
  const std::string log = logging.log_text();
  EXPECT_NE(log.find("negative id -1"), std::string::npos);
  EXPECT_NE(log.find(events[0].header["event_id"].string), std::string::npos)
      << "the log line carries the Sentry event id";
}

TEST_F(SentryClient, ErrorHandlerWrapsAwaitables) {
  IngestPeer peer;
  sentry::init(options_for(peer));
  const double before = errors_total("std::logic_error", "bot");
  auto handler =
      sentry::error_handler({{"module", "bot"}}, [](int value) -> boost::asio::awaitable<int> {
        if (value == 0) throw std::logic_error("zero");
        co_return value + 1;
      });
  boost::asio::io_context io;
  auto ok = boost::asio::co_spawn(io, handler(1), boost::asio::use_future);
  auto failed = boost::asio::co_spawn(io, handler(0), boost::asio::use_future);
  io.run();
  EXPECT_EQ(ok.get(), 2);
  EXPECT_THROW(failed.get(), std::logic_error);
  EXPECT_EQ(errors_total("std::logic_error", "bot"), before + 1);
  ASSERT_TRUE(sentry::flush(5s));
  auto events = peer.with_item("event");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ((*events[0].item("event"))["exception"]["values"].array[0]["type"].string,
            "std::logic_error");
}

TEST(SentryClientConcurrency, ManyThreadsCaptureWhileScopesChange) {
  IngestPeer peer;
  auto options = options_for(peer);
  options.queue_size = 10000;
  sentry::init(options);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      sentry::ThreadScope scope;
      scope.set_tag("thread", std::to_string(t));
      for (int i = 0; i < 25; ++i) {
        sentry::set_tag("iteration", std::to_string(i));
        sentry::add_breadcrumb({.message = "step"});
        try {
          throw std::runtime_error("boom");
        } catch (...) {
          sentry::capture_exception();
        }
      }
    });
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(sentry::flush(30s));
  EXPECT_EQ(peer.with_item("event").size(), 100u);
  sentry::close(2s);
}

TEST(SentryClientConcurrency, CapturesWhileTheClientRestartsAndScopesChange) {
  IngestPeer peer;
  std::atomic<bool> stop{false};
  std::atomic<int> accepted{0};
  std::thread producer([&] {
    while (!stop.load()) {
      if (!sentry::capture_message("while restarting").empty()) accepted.fetch_add(1);
      sentry::set_tag("phase", "running");
    }
  });
  for (int round = 0; round < 5; ++round) {
    sentry::init(options_for(peer));
    std::this_thread::sleep_for(20ms);
    sentry::close(2s);
  }
  stop.store(true);
  producer.join();
  EXPECT_FALSE(sentry::is_enabled());
  EXPECT_GT(accepted.load(), 0);
  // Every accepted event was sent by the client that accepted it (close flushes).
  EXPECT_EQ(static_cast<int>(peer.with_item("event").size()), accepted.load());
}

namespace {

/// Starts a client on `dir`, as the next process would after a crash, waits until the cached
/// crash record is sent, and returns its event (a failure unless there is exactly one).
test_json::Value resent_crash_event(IngestPeer& peer, const std::filesystem::path& dir) {
  auto options = options_for(peer);
  options.cache_dir = dir.string();
  sentry::init(options);
  EXPECT_TRUE(sentry::flush(10s));
  auto envelopes = peer.with_item("event");
  EXPECT_EQ(envelopes.size(), 1u);
  return envelopes.empty() ? test_json::Value{} : *envelopes[0].item("event");
}

std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("monitoring-sentry-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

std::size_t count_files(const std::filesystem::path& dir, const std::string& extension) {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    count += entry.path().extension() == extension;
  return count;
}

[[gnu::noinline]] void crash_with_a_real_fault() {
  // Both volatile: the store can be neither removed nor turned into a trap instruction.
  volatile int* volatile target = nullptr;
  *target = 1;
}

[[gnu::noinline]] void throw_unhandled() {
  throw std::runtime_error("unhandled in the child");
}
void (*volatile g_throw_unhandled)() = throw_unhandled;  // hidden from -Wterminate

[[gnu::noinline]] void throw_through_noexcept() noexcept {
  g_throw_unhandled();
}

/// Runs `body` in a forked child with a Sentry client caching into `dir`; returns the
/// child's wait status.
template <class Body>
int run_crashing_child(const std::filesystem::path& dir, Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    sentry::Options options;
    options.dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/42";
    options.cache_dir = dir.string();
    options.capture_logs = false;
    sentry::init(options);
    body();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

}  // namespace

TEST_F(SentryClient, FatalSignalInAChildIsRecordedAndSentOnTheNextStart) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer runtime owns SIGSEGV (it reports the fault and exits itself)";
#endif
  const auto dir = fresh_dir("crash");
  const int status = run_crashing_child(dir, [] { crash_with_a_real_fault(); });
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGSEGV) << "the default action ran after our handler";
  ASSERT_EQ(count_files(dir, ".crash"), 1u);

  IngestPeer peer;
  const test_json::Value event = resent_crash_event(peer, dir);
  EXPECT_EQ(event["level"].string, "fatal");
  const auto& exception = event["exception"]["values"].array.at(0);
  EXPECT_EQ(exception["type"].string, "SIGSEGV");
  EXPECT_EQ(exception["mechanism"]["type"].string, "signalhandler");
  EXPECT_FALSE(exception["mechanism"]["handled"].boolean);
  const std::string functions = frame_functions(exception);
  EXPECT_NE(functions.find("crash_with_a_real_fault"), std::string::npos) << functions;
  EXPECT_EQ(count_files(dir, ".crash"), 0u);
  sentry::close(2s);
  std::filesystem::remove_all(dir);
}

TEST_F(SentryClient, TerminateInAChildIsRecordedWithItsException) {
  const auto dir = fresh_dir("terminate");
  const int status = run_crashing_child(dir, [] { throw_through_noexcept(); });
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGABRT);
  ASSERT_EQ(count_files(dir, ".crash"), 1u) << "one record, not a second one for the SIGABRT";

  IngestPeer peer;
  const test_json::Value event = resent_crash_event(peer, dir);
  const auto& exception = event["exception"]["values"].array.at(0);
  EXPECT_EQ(exception["type"].string, "std::runtime_error");
  EXPECT_EQ(exception["value"].string, "unhandled in the child");
  EXPECT_EQ(exception["mechanism"]["type"].string, "terminate");
  EXPECT_NE(frame_functions(exception).find("throw_through_noexcept"), std::string::npos)
      << frame_functions(exception);
  sentry::close(2s);
  std::filesystem::remove_all(dir);
}

TEST_F(SentryClient, CrashHandlersChainToEarlierOnes) {
  static std::atomic<int> earlier_calls{0};
  earlier_calls.store(0);
  struct sigaction earlier {};
  earlier.sa_handler = [](int) { earlier_calls.fetch_add(1); };
  sigemptyset(&earlier.sa_mask);
  struct sigaction saved {};
  ASSERT_EQ(::sigaction(SIGFPE, &earlier, &saved), 0);
  const auto dir = fresh_dir("chain");
  {
    IngestPeer peer;
    auto options = options_for(peer);
    options.cache_dir = dir.string();
    sentry::init(options);
    ::raise(SIGFPE);  // sent, not a fault: the earlier handler returns and we go on
    EXPECT_EQ(earlier_calls.load(), 1);
    EXPECT_EQ(count_files(dir, ".crash"), 1u);
    sentry::close(2s);
  }
  struct sigaction after {};
  ::sigaction(SIGFPE, nullptr, &after);
  EXPECT_EQ(after.sa_handler, earlier.sa_handler) << "close restores the earlier handler";
  ::sigaction(SIGFPE, &saved, nullptr);
  std::filesystem::remove_all(dir);
}

namespace {

using test_crash::overflow_stack;

/// The messages of an event's breadcrumbs, in order.
std::vector<std::string> crumb_messages(const test_json::Value& event) {
  std::vector<std::string> out;
  if (!event.has("breadcrumbs")) return out;
  for (const auto& crumb : event["breadcrumbs"]["values"].array)
    out.push_back(crumb.has("message") ? crumb["message"].string : std::string());
  return out;
}

stack_t current_alt_stack() {
  stack_t stack{};
  ::sigaltstack(nullptr, &stack);
  return stack;
}

}  // namespace

TEST_F(SentryClient, StackOverflowOnAThreadOtherThanInitsIsRecorded) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer runtime owns SIGSEGV (it reports the fault and exits itself)";
#endif
  const auto dir = fresh_dir("overflow");
  const int status = run_crashing_child(dir, [] {
    std::thread worker([] {
      // The first use of the client on this thread gives it an alternate signal stack.
      sentry::add_breadcrumb({.category = "worker", .message = "about to recurse"});
      overflow_stack(0);
    });
    worker.join();
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGSEGV);
  ASSERT_EQ(count_files(dir, ".crash"), 1u) << "the handler could not run on that thread";

  IngestPeer peer;
  const test_json::Value event = resent_crash_event(peer, dir);
  const auto& exception = event["exception"]["values"].array.at(0);
  EXPECT_EQ(exception["type"].string, "SIGSEGV");
  EXPECT_NE(frame_functions(exception).find("overflow_stack"), std::string::npos)
      << frame_functions(exception);
  const auto crumbs = crumb_messages(event);
  ASSERT_FALSE(crumbs.empty());
  EXPECT_EQ(crumbs.back(), "about to recurse");
  sentry::close(2s);
  std::filesystem::remove_all(dir);
}

TEST_F(SentryClient, CrashRecordCarriesBreadcrumbsAndTheCrashedProcesssScope) {
  const auto dir = fresh_dir("crumbs");
  const int status = run_crashing_child(dir, [] {
    sentry::set_user({.id = "501", .username = "crasher"});
    sentry::set_tag("phase", "checkout");
    sentry::set_context("payment", {{"system", "cryptobot"}});
    sentry::add_breadcrumb({.type = "http",
                            .category = "payment",
                            .message = "POST /invoice\tfailed\nretrying",
                            .level = sentry::Level::kWarning,
                            .data = {{"status", "502"}, {"url", "https://pay.crypt.bot/api"}}});
    sentry::add_breadcrumb({.category = "auth", .message = "login token=abcdef123456"});
    sentry::add_breadcrumb({.category = "ui", .message = "last step"});
    ::abort();
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGABRT);
  ASSERT_EQ(count_files(dir, ".crash"), 1u);

  sentry::set_tag("phase", "startup");  // this process's scope is not the crashed one's
  IngestPeer peer;
  const test_json::Value event = resent_crash_event(peer, dir);
  sentry::set_tag("phase", "");
  EXPECT_EQ(event["exception"]["values"].array.at(0)["type"].string, "SIGABRT");
  const auto& crumbs = event["breadcrumbs"]["values"].array;
  ASSERT_GE(crumbs.size(), 3u);
  const auto& http = crumbs[crumbs.size() - 3];
  EXPECT_EQ(http["message"].string, "POST /invoice\tfailed\nretrying");
  EXPECT_EQ(http["type"].string, "http");
  EXPECT_EQ(http["category"].string, "payment");
  EXPECT_EQ(http["level"].string, "warning");
  EXPECT_EQ(http["data"]["status"].string, "502");
  EXPECT_EQ(http["data"]["url"].string, "https://pay.crypt.bot/api");
  const std::string secret = crumbs[crumbs.size() - 2]["message"].string;
  EXPECT_EQ(secret.find("abcdef123456"), std::string::npos)
      << "scrubbed on the way out: " << secret;
  EXPECT_EQ(crumbs.back()["message"].string, "last step");
  EXPECT_EQ(event["user"]["id"].string, "501");
  EXPECT_EQ(event["user"]["username"].string, "crasher");
  EXPECT_EQ(event["tags"]["phase"].string, "checkout");
  EXPECT_EQ(event["contexts"]["payment"]["system"].string, "cryptobot");
  sentry::close(2s);
  std::filesystem::remove_all(dir);
}

TEST_F(SentryClient, CrashRecordCarriesTheCrashingThreadsUserRequestTraceAndFields) {
  const auto dir = fresh_dir("thread-context");
  const int status = run_crashing_child(dir, [] {
    sentry::set_user({.id = "1", .username = "global"});  // the thread's context wins
    std::thread([] {
      auto user = monitoring::context::with_user(777, "tab\there");
      auto request = monitoring::context::with_request_id("req-crash-1");
      auto trace =
          monitoring::context::with_trace("0123456789abcdef0123456789abcdef", "89abcdef01234567");
      auto fields = monitoring::context::with_fields(
          {{"order", 1234}, {"plan", "pro\nyearly"}, {"password", "hunter2"}});
      ::abort();
    }).join();
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGABRT);
  ASSERT_EQ(count_files(dir, ".crash"), 1u);

  IngestPeer peer;
  const test_json::Value event = resent_crash_event(peer, dir);
  EXPECT_EQ(event["user"]["id"].string, "777");
  EXPECT_EQ(event["user"]["username"].string, "tab\there");
  EXPECT_EQ(event["tags"]["request_id"].string, "req-crash-1");
  EXPECT_EQ(event["contexts"]["trace"]["trace_id"].string, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(event["contexts"]["trace"]["span_id"].string, "89abcdef01234567");
  EXPECT_EQ(event["extra"]["order"].string, "1234");
  EXPECT_EQ(event["extra"]["plan"].string, "pro\nyearly");
  EXPECT_EQ(event["extra"]["password"].string, "[Filtered]") << "scrubbed on the way out";
  sentry::close(2s);
  std::filesystem::remove_all(dir);
}

TEST_F(SentryClient, CrashRecordOfAThreadWithoutContextHasOnlyTheGlobalScope) {
  const auto dir = fresh_dir("no-thread-context");
  const int status = run_crashing_child(dir, [] {
    sentry::set_user({.id = "9", .username = "global"});
    ::abort();
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  IngestPeer peer;
  const test_json::Value event = resent_crash_event(peer, dir);
  EXPECT_EQ(event["user"]["id"].string, "9");
  EXPECT_FALSE(event.has("tags") && event["tags"].has("request_id"));
  EXPECT_FALSE(event.has("extra") && event["extra"].has("order"));
  sentry::close(2s);
  std::filesystem::remove_all(dir);
}

TEST_F(SentryClient, TerminateRecordCarriesBreadcrumbsToo) {
  const auto dir = fresh_dir("terminate-crumbs");
  const int status = run_crashing_child(dir, [] {
    sentry::add_breadcrumb({.category = "job", .message = "before the throw"});
    throw_through_noexcept();
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  IngestPeer peer;
  const test_json::Value event = resent_crash_event(peer, dir);
  const auto crumbs = crumb_messages(event);
  ASSERT_FALSE(crumbs.empty());
  EXPECT_EQ(crumbs.back(), "before the throw");
  sentry::close(2s);
  std::filesystem::remove_all(dir);
}

TEST_F(SentryClient, ThreadsThatUseTheClientGetAnAlternateSignalStack) {
  const auto dir = fresh_dir("altstack");
  IngestPeer peer;
  auto options = options_for(peer);
  options.cache_dir = dir.string();
  sentry::init(options);
  struct Seen {
    bool before_enabled = false;
    bool after_enabled = false;
    void* before_sp = nullptr;
    void* after_sp = nullptr;
    std::size_t after_size = 0;
  };
  auto observe = [](auto use) {
    Seen seen;
    std::thread thread([&] {
      const stack_t before = current_alt_stack();
      seen.before_enabled = !(before.ss_flags & SS_DISABLE);
      seen.before_sp = before.ss_sp;
      use();
      const stack_t after = current_alt_stack();
      seen.after_enabled = !(after.ss_flags & SS_DISABLE);
      seen.after_sp = after.ss_sp;
      seen.after_size = after.ss_size;
    });
    thread.join();
    return seen;
  };
  // Each entry point arms the thread.
  const std::vector<std::function<void()>> uses = {
      [] { sentry::add_breadcrumb({.message = "x"}); },
      [] { sentry::capture_message("x"); },
      [] {
        try {
          throw std::runtime_error("x");
        } catch (...) {
          sentry::capture_exception();
        }
      },
      [] { sentry::ThreadScope scope; },
      [] { sentry::set_extra("altstack", "x"); },
      [] { auto transaction = sentry::start_transaction("x", "task"); },
  };
  for (std::size_t i = 0; i < uses.size(); ++i) {
    const Seen seen = observe(uses[i]);
    EXPECT_TRUE(seen.after_enabled) << "entry point " << i;
    if (seen.before_enabled) {  // a sanitizer runtime gives threads one already: kept
      EXPECT_EQ(seen.after_sp, seen.before_sp) << "entry point " << i;
    } else {
      EXPECT_GE(seen.after_size, 64u * 1024) << "entry point " << i;
    }
  }
  sentry::set_extra("altstack", "");
  // A thread with its own alternate stack keeps it.
  const Seen own = observe([] {
    static std::vector<char> memory(256 * 1024);
    stack_t stack{};
    stack.ss_sp = memory.data();
    stack.ss_size = memory.size();
    ASSERT_EQ(::sigaltstack(&stack, nullptr), 0);
    sentry::add_breadcrumb({.message = "mine"});
    EXPECT_EQ(current_alt_stack().ss_sp, memory.data());
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    ::sigaltstack(&off, nullptr);
  });
  (void)own;
  sentry::close(2s);
  // Without crash handlers (closed, or no cache directory) nothing is set up.
  const Seen closed = observe([] { sentry::add_breadcrumb({.message = "after close"}); });
  EXPECT_EQ(closed.after_enabled, closed.before_enabled);
  std::filesystem::remove_all(dir);
}

TEST_F(SentryClient, CapturesOfEveryThreadFollowAReinit) {
  IngestPeer first;
  IngestPeer second;
  sentry::init(options_for(first));
  std::mutex mutex;
  std::condition_variable step;
  int phase = 0;  // 0: capture to the first client, 1: done, 2: capture again, 3: done
  std::thread worker([&] {
    auto wait_for_phase = [&](int wanted) {
      std::unique_lock lock(mutex);
      step.wait(lock, [&] { return phase == wanted; });
    };
    wait_for_phase(0);
    sentry::capture_message("to the first");
    {
      std::lock_guard lock(mutex);
      phase = 1;
    }
    step.notify_all();
    wait_for_phase(2);
    sentry::capture_message("to the second");
    {
      std::lock_guard lock(mutex);
      phase = 3;
    }
    step.notify_all();
  });
  {
    std::unique_lock lock(mutex);
    step.wait(lock, [&] { return phase == 1; });
  }
  sentry::init(options_for(second));  // closes the first client
  {
    std::lock_guard lock(mutex);
    phase = 2;
  }
  step.notify_all();
  {
    std::unique_lock lock(mutex);
    step.wait(lock, [&] { return phase == 3; });
  }
  worker.join();
  ASSERT_TRUE(sentry::flush(5s));
  auto first_events = first.with_item("event");
  auto second_events = second.with_item("event");
  ASSERT_EQ(first_events.size(), 1u);
  ASSERT_EQ(second_events.size(), 1u);
  EXPECT_EQ((*first_events[0].item("event"))["message"]["formatted"].string, "to the first");
  EXPECT_EQ((*second_events[0].item("event"))["message"]["formatted"].string, "to the second");
}

TEST(SentryClientConcurrency, CapturesBreadcrumbsAndScopeChangesFromManyThreadsWhileFlushing) {
  IngestPeer peer;
  auto options = options_for(peer);
  options.queue_size = 10000;
  options.max_breadcrumbs = 20;
  sentry::init(options);
  constexpr int kThreads = 4;
  constexpr int kEach = 30;
  std::atomic<int> accepted{0};
  std::atomic<bool> stop_flushing{false};
  std::thread flusher([&] {
    while (!stop_flushing.load()) sentry::flush(50ms);
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([t, &accepted] {
      for (int i = 0; i < kEach; ++i) {
        const std::string mark = std::to_string(t) + "-" + std::to_string(i);
        sentry::add_breadcrumb({.category = "thread", .message = mark});
        sentry::set_user({.id = mark});
        if (!sentry::capture_message("event " + mark).empty()) accepted.fetch_add(1);
      }
    });
  for (auto& thread : threads) thread.join();
  stop_flushing.store(true);
  flusher.join();
  ASSERT_TRUE(sentry::flush(30s));
  const auto events = peer.with_item("event");
  EXPECT_EQ(static_cast<int>(events.size()), accepted.load());
  EXPECT_EQ(accepted.load(), kThreads * kEach);
  for (const auto& envelope : events) {
    const auto& event = *envelope.item("event");
    const std::string message = event["message"]["formatted"].string;
    // Whole breadcrumbs of the writers, each thread's in the order it added them.
    // (Earlier tests' breadcrumbs may come first: the log is the process's.)
    ASSERT_TRUE(event.has("breadcrumbs")) << message;
    const auto& crumbs = event["breadcrumbs"]["values"].array;
    EXPECT_LE(crumbs.size(), 20u);
    int last_of[kThreads] = {-1, -1, -1, -1};
    for (const auto& value : crumbs) {
      if (!value.has("category") || value["category"].string != "thread") continue;
      const std::string crumb = value["message"].string;
      const std::size_t dash = crumb.find('-');
      ASSERT_NE(dash, std::string::npos) << crumb;
      const int thread = std::stoi(crumb.substr(0, dash));
      const int index = std::stoi(crumb.substr(dash + 1));
      ASSERT_TRUE(thread >= 0 && thread < kThreads) << crumb;
      EXPECT_GT(index, last_of[thread]) << message;
      last_of[thread] = index;
    }
    EXPECT_TRUE(event.has("user")) << message;
  }
  sentry::close(2s);
}

TEST_F(SentryClient, EachCaptureSeesTheBreadcrumbsAddedBeforeIt) {
  IngestPeer peer;
  sentry::init(options_for(peer));
  sentry::add_breadcrumb({.category = "seq", .message = "first"});
  sentry::capture_message("a");
  sentry::capture_message("b");  // nothing new: may share a's copy
  std::thread([] {
    sentry::add_breadcrumb({.category = "seq", .message = "from another thread"});
  }).join();
  sentry::capture_message("c");
  sentry::add_breadcrumb({.category = "seq", .message = "last"});
  sentry::capture_message("d");
  ASSERT_TRUE(sentry::flush(5s));
  const auto envelopes = peer.with_item("event");
  ASSERT_EQ(envelopes.size(), 4u);
  std::map<std::string, std::string> last_crumb;
  for (const auto& envelope : envelopes) {
    const auto& event = *envelope.item("event");
    last_crumb[event["message"]["formatted"].string] = crumb_messages(event).back();
  }
  EXPECT_EQ(last_crumb["a"], "first");
  EXPECT_EQ(last_crumb["b"], "first");
  EXPECT_EQ(last_crumb["c"], "from another thread");
  EXPECT_EQ(last_crumb["d"], "last");
}

namespace {

/// A client that cannot send (the discard port refuses), with room for `queue` events. Its
/// before_send counts the events the worker builds, and holds the first one until `release`
/// is set: close() then gives up on the worker and leaves it behind with the queue full.
struct HeldWorker {
  std::atomic<int> built{0};
  std::atomic<bool> release{false};

  sentry::Options options(std::size_t queue) {
    sentry::Options options;
    options.dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/42";
    options.capture_logs = false;
    options.auto_session_tracking = false;
    options.max_retries = 0;
    options.queue_size = queue;
    options.before_send = [this](sentry::Event&) {
      if (built.fetch_add(1) == 0)
        while (!release.load()) std::this_thread::sleep_for(1ms);
      return true;
    };
    return options;
  }
};

std::string dropped_series(const std::string& reason) {
  return "monitoring_sentry_events_dropped_total{reason=\"" + reason + "\",category=\"error\"}";
}

}  // namespace

TEST_F(SentryClient, WhatIsLeftPastTheCloseDeadlineIsCountedWithoutBeingBuilt) {
  constexpr int kEvents = 5000;
  HeldWorker held;
  const double dropped_before = series_value(dropped_series("network_error"));
  sentry::init(held.options(kEvents));
  for (int i = 0; i < kEvents; ++i) ASSERT_FALSE(sentry::capture_message("left behind").empty());
  ASSERT_TRUE(wait_for([&] { return held.built.load() == 1; }));
  sentry::close(0ms);  // gives up on the held worker
  held.release = true;
  ASSERT_TRUE(wait_for([] { return sentry::detail::live_transport_threads() == 0; }));
  // Only the event in hand when the deadline passed was built; every event is counted once.
  EXPECT_EQ(held.built.load(), 1);
  EXPECT_EQ(series_value(dropped_series("network_error")) - dropped_before, kEvents);
}

TEST_F(SentryClient, PastTheCloseDeadlineOnlyWhatTheCacheHoldsIsBuilt) {
  constexpr int kEvents = 500;
  const auto dir = fresh_dir("past-deadline");
  HeldWorker held;
  auto options = held.options(kEvents);
  options.cache_dir = dir.string();
  options.max_cache_files = 3;
  options.crash_handler = false;
  const double overflow_before = series_value(dropped_series("cache_overflow"));
  sentry::init(options);
  for (int i = 0; i < kEvents; ++i) ASSERT_FALSE(sentry::capture_message("left behind").empty());
  ASSERT_TRUE(wait_for([&] { return held.built.load() == 1; }));
  sentry::close(0ms);
  held.release = true;
  ASSERT_TRUE(wait_for([] { return sentry::detail::live_transport_threads() == 0; }));
  // The event in hand, then as many as the cache holds; the rest are counted as overflow
  // (one of the built ones was pushed out by the later ones).
  EXPECT_EQ(held.built.load(), 1 + 3);
  EXPECT_EQ(count_files(dir, ".envelope"), 3u);
  EXPECT_EQ(series_value(dropped_series("cache_overflow")) - overflow_before, kEvents - 3);
  std::filesystem::remove_all(dir);
}

TEST_F(SentryClient, ExitingRightAfterClosesThatGaveUpEndsCleanly) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer cannot start threads in a child forked from threads";
#endif
  // The benchmark's pattern that crashed: clients closed with a full queue and a short
  // deadline leave their workers behind, and the process exits while they still run.
  const pid_t pid = ::fork();
  if (pid == 0) {
    for (int round = 0; round < 3; ++round) {
      sentry::Options options;
      options.dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/42";
      options.release = "exit-test@1";
      options.capture_logs = false;
      options.queue_size = 1u << 17;
      options.max_retries = 0;
      sentry::init(options);
      for (int i = 0; i < 100000; ++i)
        sentry::capture_message("checkout failed", sentry::Level::kError);
      sentry::close(1ms);
    }
    std::exit(0);  // static destructors and atexit handlers run, unlike _exit
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "the child ended by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(SentryClient, AnApplicationThatNeverClosesStillSendsWhatItCapturedOnExit) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer cannot start threads in a child forked from threads";
#endif
  IngestPeer peer;
  const pid_t pid = ::fork();
  if (pid == 0) {
    sentry::init(options_for(peer));
    sentry::capture_message("captured just before exit");
    std::exit(0);  // no close(): the exit closes the client within its shutdown_timeout
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "the child ended by signal " << WTERMSIG(status);
  const auto events = peer.with_item("event");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ((*events[0].item("event"))["message"]["formatted"].string, "captured just before exit");
}
