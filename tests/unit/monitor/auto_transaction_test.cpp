// Catalog timers of the kinds http and bot_handler start a Sentry transaction when no trace is
// active (issue 13, point 6): nested timers become its spans, traces_sample_rate samples it,
// the outcome sets its status, and the histogram's exemplar names its trace.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "monitoring/monitoring.hpp"
#include "support/http_client.hpp"
#include "unit/sentry/ingest_peer.hpp"

namespace monitoring {
namespace {

using namespace std::chrono_literals;
using metrics::PrometheusMetrics;
using sentry_test::IngestPeer;
using sentry_test::wait_for;

/// An endpoint of its own for each run: exemplars are per process, so a repeated test
/// (--gtest_repeat) must not find the previous run's.
std::string fresh(const std::string& endpoint) {
  static std::atomic<int> runs{0};
  return endpoint + "_" + std::to_string(runs.fetch_add(1));
}

class AutoTransactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("monitoring-auto-transaction-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  MonitoringServer start(double traces_sample_rate, bool with_server = false) {
    return setup_monitoring({
        .log_dir = (dir_ / "logs").string(),
        .sentry_dsn = peer_.dsn(),
        .sentry_traces_sample_rate = traces_sample_rate,
        .monitoring_host = "127.0.0.1",
        .monitoring_port = 0,
        .enable_monitoring_server = with_server,
        .sentry_cache_dir = (dir_ / "sentry").string(),
        .log_console = "none",
    });
  }

  /// The only transaction the fake ingest received.
  test_json::Value only_transaction() const {
    const auto envelopes = peer_.with_item("transaction");
    if (envelopes.size() != 1) {
      ADD_FAILURE() << envelopes.size() << " transaction envelopes, expected 1";
      return {};
    }
    return *envelopes[0].item("transaction");
  }

  /// The trace id of the exemplar on the first `metric` bucket line that contains `labels`.
  static std::string exemplar_trace_id(const std::string& exposition, const std::string& metric,
                                       const std::string& labels) {
    std::size_t at = 0;
    while ((at = exposition.find(metric + "_bucket{", at)) != std::string::npos) {
      const std::size_t end = exposition.find('\n', at);
      const std::string line = exposition.substr(at, end - at);
      at = end;
      if (line.find(labels) == std::string::npos) continue;
      const std::string marker = "# {trace_id=\"";
      const std::size_t exemplar = line.find(marker);
      if (exemplar != std::string::npos) return line.substr(exemplar + marker.size(), 32);
    }
    return {};
  }

  IngestPeer peer_;
  std::filesystem::path dir_;
};

using AutoTransaction = AutoTransactionTest;

TEST_F(AutoTransaction, HttpTimerWithoutATraceSendsATransactionWithTheNestedTimerAsSpan) {
  std::string trace_id;
  {
    auto server = start(1.0);
    {
      auto request =
          PrometheusMetrics::track_time("http", {{"method", "POST"}, {"endpoint", "/at_webhook"}});
      trace_id = std::string(context::current().trace_id());
      ASSERT_EQ(trace_id.size(), 32u) << "the transaction is the thread's trace while it runs";
      { auto charge = PrometheusMetrics::track_time("payment", {{"payment_system", "at_pay"}}); }
    }
    EXPECT_TRUE(context::current().trace_id().empty()) << "the trace ended with the timer";
    ASSERT_TRUE(sentry::flush(5s));
  }
  const test_json::Value tx = only_transaction();
  EXPECT_EQ(tx["transaction"].string, "POST /at_webhook");
  const test_json::Value& trace = tx["contexts"]["trace"];
  EXPECT_EQ(trace["op"].string, "http.server");
  EXPECT_EQ(trace["status"].string, "ok");
  EXPECT_EQ(trace["trace_id"].string, trace_id);
  ASSERT_EQ(tx["spans"].array.size(), 1u);
  const test_json::Value& span = tx["spans"].array[0];
  EXPECT_EQ(span["op"].string, "payment");
  EXPECT_EQ(span["description"].string, "payment_system=at_pay");
  EXPECT_EQ(span["parent_span_id"].string, trace["span_id"].string);
}

TEST_F(AutoTransaction, ThrowingBotHandlerEndsItsTransactionAsInternalError) {
  {
    auto server = start(1.0);
    auto handle_start =
        PrometheusMetrics::timed("bot_handler", {{"handler", "at_start"}}, [](int user) -> int {
          if (user < 0) throw std::out_of_range("user");
          return user;
        });
    EXPECT_THROW(handle_start(-1), std::out_of_range);
    ASSERT_TRUE(sentry::flush(5s));
  }
  const test_json::Value tx = only_transaction();
  EXPECT_EQ(tx["transaction"].string, "at_start");
  EXPECT_EQ(tx["contexts"]["trace"]["op"].string, "bot.handler");
  EXPECT_EQ(tx["contexts"]["trace"]["status"].string, "internal_error");
}

TEST_F(AutoTransaction, TimerMarkedFailedEndsItsTransactionAsInternalError) {
  {
    auto server = start(1.0);
    auto request =
        PrometheusMetrics::track_time_async("http", {{"method", "POST"}, {"endpoint", "/at_500"}});
    request.mark_failed();  // answered 500, no exception in flight
    request.stop();
    ASSERT_TRUE(sentry::flush(5s));
  }
  const test_json::Value tx = only_transaction();
  EXPECT_EQ(tx["transaction"].string, "POST /at_500");
  EXPECT_EQ(tx["contexts"]["trace"]["status"].string, "internal_error");
}

TEST_F(AutoTransaction, SampledOutAtRateZeroWithoutAnExemplarThatLinksToNothing) {
  std::string exposition;
  {
    auto server = start(0.0, true);
    {
      auto request =
          PrometheusMetrics::track_time("http", {{"method", "GET"}, {"endpoint", "/at_zero"}});
      EXPECT_EQ(context::current().trace_id().size(), 32u) << "logs still carry the trace";
    }
    // Something that is sent, so the absence of the transaction is not a slow transport.
    sentry::capture_message("after the request");
    ASSERT_TRUE(sentry::flush(5s));
    exposition = testing::raw_get(server.port(), "/metrics",
                                  "Accept: application/openmetrics-text; version=1.0.0\r\n")
                     .body;
  }
  ASSERT_TRUE(wait_for([&] { return !peer_.with_item("event").empty(); }));
  EXPECT_TRUE(peer_.with_item("transaction").empty());
  ASSERT_NE(exposition.find("endpoint=\"/at_zero\""), std::string::npos);
  EXPECT_EQ(exemplar_trace_id(exposition, "http_request_duration_seconds", "endpoint=\"/at_zero\""),
            "");
}

TEST_F(AutoTransaction, InsideAnActiveTransactionTheTimerIsOneOfItsSpans) {
  {
    auto server = start(1.0);
    {
      auto renew = sentry::start_transaction("renew", "task");
      auto request =
          PrometheusMetrics::track_time("http", {{"method", "GET"}, {"endpoint", "/at_inner"}});
    }
    ASSERT_TRUE(sentry::flush(5s));
  }
  const test_json::Value tx = only_transaction();
  EXPECT_EQ(tx["transaction"].string, "renew");
  ASSERT_EQ(tx["spans"].array.size(), 1u);
  EXPECT_EQ(tx["spans"].array[0]["op"].string, "http");
  EXPECT_EQ(tx["spans"].array[0]["description"].string, "method=GET, endpoint=/at_inner");
}

TEST_F(AutoTransaction, OpenMetricsScrapeShowsTheSentTransactionAsExemplar) {
  std::string exposition;
  const std::string endpoint = fresh("/at_scraped");
  {
    auto server = start(1.0, true);
    {
      auto request =
          PrometheusMetrics::track_time("http", {{"method", "POST"}, {"endpoint", endpoint}});
    }
    ASSERT_TRUE(sentry::flush(5s));
    const auto response = testing::raw_get(
        server.port(), "/metrics", "Accept: application/openmetrics-text; version=1.0.0\r\n");
    ASSERT_EQ(response.status, 200);
    exposition = response.body;
  }
  const test_json::Value tx = only_transaction();
  const std::string sent = tx["contexts"]["trace"]["trace_id"].string;
  ASSERT_EQ(sent.size(), 32u);
  EXPECT_EQ(exemplar_trace_id(exposition, "http_request_duration_seconds",
                              "endpoint=\"" + endpoint + "\""),
            sent)
      << exposition.substr(0, 4000);
}

// The timer starts on one thread and stops on another (a request handled in asynchronous
// steps), so ThreadSanitizer runs this suite too.
using AutoTransactionConcurrency = AutoTransactionTest;

TEST_F(AutoTransactionConcurrency, AsyncTimerStoppedOnAnotherThreadIsATransactionAndAnExemplar) {
  std::string exposition;
  const std::string endpoint = fresh("/at_async");
  {
    auto server = start(1.0, true);
    auto request =
        PrometheusMetrics::track_time_async("http", {{"method", "POST"}, {"endpoint", endpoint}});
    EXPECT_TRUE(context::current().trace_id().empty()) << "not bound to the starting thread";
    {
      // Under this thread's own trace, which must not become the exemplar's.
      auto other = context::with_trace(std::string(32, 'a'), std::string(16, 'b'));
      auto nested = PrometheusMetrics::track_time("panel_api", {{"endpoint", "/at_async_step"}});
    }
    std::thread finisher([&] { request.stop(); });
    finisher.join();
    ASSERT_TRUE(sentry::flush(5s));
    exposition = testing::raw_get(server.port(), "/metrics",
                                  "Accept: application/openmetrics-text; version=1.0.0\r\n")
                     .body;
  }
  const test_json::Value tx = only_transaction();
  EXPECT_EQ(tx["transaction"].string, "POST " + endpoint);
  EXPECT_EQ(tx["contexts"]["trace"]["op"].string, "http.server");
  EXPECT_TRUE(tx["spans"].array.empty()) << "an unbound transaction collects no nested timers";
  EXPECT_EQ(exemplar_trace_id(exposition, "http_request_duration_seconds",
                              "endpoint=\"" + endpoint + "\""),
            tx["contexts"]["trace"]["trace_id"].string);
}

}  // namespace
}  // namespace monitoring
