#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "ingest_peer.hpp"
#include "monitoring/context.hpp"
#include "monitoring/logging.hpp"
#include "monitoring/sentry.hpp"

namespace sentry = monitoring::sentry;
using sentry_test::IngestPeer;
using namespace std::chrono_literals;

namespace {

constexpr const char* kTraceId = "771a43a4192642f0b136d5159a501700";
constexpr const char* kParentSpan = "b0e6f15b45c36b12";

sentry::Options tracing_options(const IngestPeer& peer, double rate = 1.0) {
  sentry::Options options;
  options.dsn = peer.dsn();
  options.environment = "test";
  options.release = "tracing@1";
  options.capture_logs = false;
  options.traces_sample_rate = rate;
  return options;
}

class SentryTracing : public ::testing::Test {
 protected:
  void TearDown() override { sentry::close(2s); }
};

const test_json::Value* find_span(const test_json::Value& transaction, const std::string& op) {
  for (const auto& span : transaction["spans"].array)
    if (span["op"].string == op) return &span;
  return nullptr;
}

}  // namespace

TEST(SentryTraceHeaders, ParsesSentryTrace) {
  auto full = sentry::parse_sentry_trace(std::string(kTraceId) + "-" + kParentSpan + "-1");
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->trace_id, kTraceId);
  EXPECT_EQ(full->parent_span_id, kParentSpan);
  EXPECT_EQ(full->sampled, true);
  auto unsampled = sentry::parse_sentry_trace(std::string(kTraceId) + "-" + kParentSpan + "-0");
  ASSERT_TRUE(unsampled.has_value());
  EXPECT_EQ(unsampled->sampled, false);
  auto deferred = sentry::parse_sentry_trace(std::string(kTraceId) + "-" + kParentSpan);
  ASSERT_TRUE(deferred.has_value());
  EXPECT_FALSE(deferred->sampled.has_value());
}

TEST(SentryTraceHeaders, RejectsMalformedSentryTrace) {
  for (const std::string& bad :
       {std::string(""), std::string("nonsense"), std::string(kTraceId) + "-" + kParentSpan + "-2",
        std::string(kTraceId) + "_" + kParentSpan, std::string(32, 'g') + "-" + kParentSpan,
        std::string(kTraceId).substr(0, 31) + "-" + kParentSpan,
        std::string(32, '0') + "-" + kParentSpan,
        std::string("771A43A4192642F0B136D5159A501700-") + kParentSpan})
    EXPECT_FALSE(sentry::parse_sentry_trace(bad).has_value()) << bad;
}

TEST(SentryTraceHeaders, ParsesTheSentryMembersOfBaggage) {
  auto members = sentry::parse_baggage(
      "other-vendor=1, sentry-trace_id=771a43a4192642f0b136d5159a501700,"
      "sentry-public_key=49d0f7386ad645858ae85020e393bef3 ;prop=x, sentry-sample_rate=0.01337,"
      "sentry-transaction=GET%20%2Fpay,broken, sentry-=empty");
  ASSERT_EQ(members.size(), 4u);
  EXPECT_EQ(members[0], (std::pair<std::string, std::string>{"trace_id", kTraceId}));
  EXPECT_EQ(members[1].second, "49d0f7386ad645858ae85020e393bef3");
  EXPECT_EQ(members[2].second, "0.01337");
  EXPECT_EQ(members[3].second, "GET /pay");
  EXPECT_TRUE(sentry::parse_baggage("").empty());
}

TEST_F(SentryTracing, TransactionWithChildSpansIsSent) {
  IngestPeer peer;
  sentry::init(tracing_options(peer));
  sentry::set_tag("service", "bot");
  std::string trace_id, root_span;
  {
    auto user = monitoring::context::with_user(5, "eve");
    auto transaction = sentry::start_transaction("process_update", "bot.handler");
    ASSERT_TRUE(transaction.sampled());
    trace_id = transaction.trace_id();
    root_span = transaction.span_id();
    EXPECT_EQ(monitoring::context::current().trace_id(), trace_id) << "bound to the thread";
    EXPECT_EQ(monitoring::context::current().span_id(), root_span);
    {
      auto db = sentry::start_span("db.query", "SELECT 1");
      db.set_tag("db", "postgres").set_data("rows", "1");
      EXPECT_EQ(monitoring::context::current().span_id(), db.span_id());
      {
        auto timed = sentry::track_time("payment", {{"payment_system", "yookassa"}});
        EXPECT_TRUE(timed.span().active());
      }
    }
    EXPECT_EQ(monitoring::context::current().span_id(), root_span) << "restored after the child";
    auto failing = transaction.start_child("http.client", "POST https://pay.example/charge");
    failing.set_status("internal_error");
  }
  EXPECT_TRUE(monitoring::context::current().trace_id().empty());
  ASSERT_TRUE(sentry::flush(5s));
  auto envelopes = peer.with_item("transaction");
  ASSERT_EQ(envelopes.size(), 1u);
  const auto& envelope = envelopes[0];
  EXPECT_EQ(envelope.header["trace"]["trace_id"].string, trace_id);
  EXPECT_EQ(envelope.header["trace"]["public_key"].string, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(envelope.header["trace"]["sampled"].string, "true");
  const auto& tx = *envelope.item("transaction");
  EXPECT_EQ(tx["type"].string, "transaction");
  EXPECT_EQ(tx["transaction"].string, "process_update");
  EXPECT_EQ(tx["contexts"]["trace"]["trace_id"].string, trace_id);
  EXPECT_EQ(tx["contexts"]["trace"]["span_id"].string, root_span);
  EXPECT_EQ(tx["contexts"]["trace"]["op"].string, "bot.handler");
  EXPECT_LE(tx["start_timestamp"].number, tx["timestamp"].number);
  EXPECT_EQ(tx["tags"]["service"].string, "bot");
  EXPECT_EQ(tx["user"]["id"].string, "5");
  EXPECT_EQ(tx["environment"].string, "test");
  ASSERT_EQ(tx["spans"].array.size(), 3u);
  const auto* db = find_span(tx, "db.query");
  ASSERT_NE(db, nullptr);
  EXPECT_EQ((*db)["parent_span_id"].string, root_span);
  EXPECT_EQ((*db)["tags"]["db"].string, "postgres");
  EXPECT_EQ((*db)["trace_id"].string, trace_id);
  const auto* payment = find_span(tx, "payment");
  ASSERT_NE(payment, nullptr);
  EXPECT_EQ((*payment)["parent_span_id"].string, (*db)["span_id"].string);
  EXPECT_EQ((*payment)["description"].string, "payment_system=yookassa");
  const auto* http = find_span(tx, "http.client");
  ASSERT_NE(http, nullptr);
  EXPECT_EQ((*http)["status"].string, "internal_error");
}

TEST_F(SentryTracing, ContinuesAnIncomingTraceAndPropagatesIt) {
  IngestPeer peer;
  sentry::init(tracing_options(peer, 0.0));  // the incoming decision wins over the rate
  const std::string incoming = std::string(kTraceId) + "-" + kParentSpan + "-1";
  const std::string baggage =
      "sentry-trace_id=" + std::string(kTraceId) +
      ",sentry-public_key=upstream,sentry-sample_rate=0.5,sentry-sampled=true";
  std::string outgoing_trace, outgoing_baggage;
  {
    auto transaction = sentry::start_transaction("GET /pay", "http.server", incoming, baggage);
    EXPECT_TRUE(transaction.sampled());
    EXPECT_EQ(transaction.trace_id(), kTraceId);
    auto call = sentry::start_span("http.client", "POST /charge");
    outgoing_trace = call.sentry_trace();
    outgoing_baggage = call.baggage();
  }
  EXPECT_EQ(outgoing_trace.substr(0, 33), std::string(kTraceId) + "-");
  EXPECT_EQ(outgoing_trace.substr(49), "-1");
  EXPECT_NE(outgoing_baggage.find("sentry-public_key=upstream"), std::string::npos)
      << "the head's sampling context passes on unchanged: " << outgoing_baggage;
  ASSERT_TRUE(sentry::flush(5s));
  auto envelopes = peer.with_item("transaction");
  ASSERT_EQ(envelopes.size(), 1u);
  const auto& tx = *envelopes[0].item("transaction");
  EXPECT_EQ(tx["contexts"]["trace"]["parent_span_id"].string, kParentSpan);
  EXPECT_EQ(envelopes[0].header["trace"]["sample_rate"].string, "0.5");
}

TEST_F(SentryTracing, UnsampledTracesPropagateButAreNotSent) {
  IngestPeer peer;
  sentry::init(tracing_options(peer, 1.0));
  {
    auto declined =
        sentry::start_transaction("x", "task", std::string(kTraceId) + "-" + kParentSpan + "-0");
    EXPECT_FALSE(declined.sampled());
    EXPECT_EQ(declined.sentry_trace().substr(49), "-0");
  }
  sentry::close(2s);
  sentry::init(tracing_options(peer, 0.0));
  {
    auto skipped = sentry::start_transaction("y");
    EXPECT_FALSE(skipped.sampled());
    EXPECT_NE(skipped.baggage().find("sentry-sampled=false"), std::string::npos);
  }
  ASSERT_TRUE(sentry::flush(5s));
  EXPECT_TRUE(peer.with_item("transaction").empty());
}

TEST_F(SentryTracing, EventsAndLogLinesCarryTheActiveTrace) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("monitoring-sentry-trace-log-" + std::to_string(::getpid()));
  monitoring::logging::LoggingOptions logging_options;
  logging_options.log_dir = dir.string();
  logging_options.console = monitoring::logging::ConsoleTarget::kNone;
  monitoring::logging::configure(logging_options);
  IngestPeer peer;
  sentry::init(tracing_options(peer));
  std::string trace_id, span_id;
  {
    auto transaction = sentry::start_transaction("checkout");
    trace_id = transaction.trace_id();
    span_id = transaction.span_id();
    monitoring::logging::StructuredLogger("checkout").info("inside the transaction");
    sentry::capture_message("inside the transaction", sentry::Level::kWarning);
  }
  monitoring::logging::shutdown();
  std::ifstream in(dir / "app.log");
  std::stringstream log;
  log << in.rdbuf();
  EXPECT_NE(log.str().find("\"trace.id\":\"" + trace_id + "\""), std::string::npos) << log.str();
  ASSERT_TRUE(sentry::flush(5s));
  auto events = peer.with_item("event");
  ASSERT_EQ(events.size(), 1u);
  const auto& trace = (*events[0].item("event"))["contexts"]["trace"];
  EXPECT_EQ(trace["trace_id"].string, trace_id);
  EXPECT_EQ(trace["span_id"].string, span_id);
  std::filesystem::remove_all(dir);
}

TEST_F(SentryTracing, TimedWrapsCallsAndAwaitablesInSpans) {
  IngestPeer peer;
  sentry::init(tracing_options(peer));
  auto charge = sentry::timed("payment", {{"payment_system", "cryptopay"}}, [](int amount) {
    if (amount < 0) throw std::invalid_argument("negative");
    return amount;
  });
  auto fetch = sentry::traced("panel_api", "GET /users",
                              [](int id) -> boost::asio::awaitable<int> { co_return id; });
  {
    auto transaction = sentry::start_transaction("job");
    EXPECT_EQ(charge(3), 3);
    EXPECT_THROW(charge(-1), std::invalid_argument);
    boost::asio::io_context io;
    auto result = boost::asio::co_spawn(io, fetch(7), boost::asio::use_future);
    io.run();
    EXPECT_EQ(result.get(), 7);
  }
  ASSERT_TRUE(sentry::flush(5s));
  auto envelopes = peer.with_item("transaction");
  ASSERT_EQ(envelopes.size(), 1u);
  const auto& spans = (*envelopes[0].item("transaction"))["spans"].array;
  ASSERT_EQ(spans.size(), 3u);
  int payments = 0, failed = 0, panel = 0;
  for (const auto& span : spans) {
    payments += span["op"].string == "payment";
    failed += span["status"].string == "internal_error";
    panel += span["op"].string == "panel_api";
  }
  EXPECT_EQ(payments, 2);
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(panel, 1);
}

TEST(SentryTracingInput, RejectsBadNamesKeysAndStatuses) {
  EXPECT_THROW(sentry::start_transaction(""), sentry::SentryError);
  EXPECT_THROW(sentry::start_transaction("name", ""), sentry::SentryError);
  EXPECT_THROW(sentry::start_span(""), sentry::SentryError);
  auto transaction = sentry::start_transaction("no client");
  EXPECT_FALSE(transaction.sampled()) << "without a client nothing is sampled";
  EXPECT_THROW(transaction.set_tag("bad key", "x"), sentry::SentryError);
  EXPECT_THROW(transaction.set_data("", "x"), sentry::SentryError);
  try {
    transaction.set_status("exploded");
    FAIL() << "no error";
  } catch (const sentry::SentryError& error) {
    EXPECT_NE(std::string(error.what()).find("'exploded'"), std::string::npos);
  }
  EXPECT_THROW(sentry::track_time("nonsense"), monitoring::metrics::MetricError);
  // A malformed incoming header starts a new trace instead of failing the request.
  auto fresh = sentry::start_transaction("x", "task", "garbage");
  EXPECT_EQ(fresh.trace_id().size(), 32u);
}
