// The 2GETPRO metric catalog: family names, types and labels; what each PrometheusMetrics and
// CustomMetrics method moves; track_time and the `timed` wrapper, also for coroutines.

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>

#include "metrics_test_util.hpp"
#include "monitoring/error.hpp"
#include "monitoring/metrics.hpp"

namespace monitoring::metrics {
namespace {

using namespace std::chrono_literals;
using test::sample_or_zero;

Registry& registry() {
  return Registry::default_registry();
}

// The value of one sample in the default registry's exposition (0 when absent).
double scraped(const std::string& series) {
  return sample_or_zero(serialize(registry()), series);
}

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override { register_catalog(); }
};

TEST_F(CatalogTest, EveryFamilyHasItsContractNameAndType) {
  const std::pair<const char*, const char*> families[] = {
      {"http_requests_total", "counter"},
      {"bot_messages_total", "counter"},
      {"errors_total", "counter"},
      {"payment_requests_total", "counter"},
      {"payment_success_total", "counter"},
      {"subscription_created_total", "counter"},
      {"referral_revenue_total", "counter"},
      {"http_request_duration_seconds", "histogram"},
      {"bot_handler_duration_seconds", "histogram"},
      {"payment_processing_duration_seconds", "histogram"},
      {"panel_api_response_time", "histogram"},
      {"active_users", "gauge"},
      {"active_subscriptions", "gauge"},
      {"database_connections", "gauge"},
      {"conversion_rate", "gauge"},
      {"churn_rate", "gauge"},
      {"average_ltv", "gauge"},
      {"payment_system_availability", "gauge"},
  };
  const std::string text = serialize(registry());
  for (const auto& [name, type] : families) {
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " " + type + "\n"), std::string::npos)
        << name;
    EXPECT_NE(text.find(std::string("# HELP ") + name + " "), std::string::npos) << name;
  }
  // Unlabeled gauges are exported from the start, at 0 until set.
  for (const char* gauge : {"active_users", "active_subscriptions", "database_connections"})
    EXPECT_NE(text.find(std::string("\n") + gauge + " "), std::string::npos) << gauge;
}

TEST_F(CatalogTest, CounterAndGaugeFamiliesHaveTheirContractLabels) {
  // Registering again with the same name, type and labels returns the existing family; any
  // difference would throw, and a missing family would raise the family count.
  const std::size_t families_before = registry().family_count();
  EXPECT_NO_THROW(registry().counter("http_requests_total", "", {"method", "endpoint", "status"}));
  EXPECT_NO_THROW(registry().counter("bot_messages_total", "", {"message_type"}));
  EXPECT_NO_THROW(registry().counter("errors_total", "", {"error_type", "module"}));
  EXPECT_NO_THROW(registry().counter("payment_requests_total", "", {"payment_system"}));
  EXPECT_NO_THROW(registry().counter("payment_success_total", "", {"payment_system"}));
  EXPECT_NO_THROW(registry().counter("subscription_created_total", "", {"plan"}));
  EXPECT_NO_THROW(registry().counter("referral_revenue_total", "", {"currency"}));
  EXPECT_NO_THROW(registry().gauge("active_users", ""));
  EXPECT_NO_THROW(registry().gauge("active_subscriptions", ""));
  EXPECT_NO_THROW(registry().gauge("database_connections", ""));
  EXPECT_NO_THROW(registry().gauge("conversion_rate", "", {"period"}));
  EXPECT_NO_THROW(registry().gauge("churn_rate", "", {"period"}));
  EXPECT_NO_THROW(registry().gauge("average_ltv", "", {"currency"}));
  EXPECT_NO_THROW(registry().gauge("payment_system_availability", "", {"payment_system"}));
  EXPECT_EQ(registry().family_count(), families_before);
  EXPECT_THROW(registry().counter("http_requests_total", "", {"method", "endpoint"}), MetricError);
}

TEST_F(CatalogTest, HistogramFamiliesHaveTheirContractLabels) {
  PrometheusMetrics::observe_http_request_duration("LBL", "/labels", 0.1);
  PrometheusMetrics::observe_bot_handler_duration("lbl_handler", 0.1);
  PrometheusMetrics::observe_payment_processing_duration("lbl_system", 0.1);
  CustomMetrics::observe_panel_api_response_time("/lbl", 0.1);
  const std::string text = serialize(registry());
  for (const char* series :
       {"http_request_duration_seconds_count{method=\"LBL\",endpoint=\"/labels\"} 1\n",
        "bot_handler_duration_seconds_count{handler=\"lbl_handler\"} 1\n",
        "payment_processing_duration_seconds_count{payment_system=\"lbl_system\"} 1\n",
        "panel_api_response_time_count{endpoint=\"/lbl\"} 1\n"})
    EXPECT_NE(text.find(series), std::string::npos) << series;
  // Default buckets where the catalog sets none; same le set on every series of a family.
  EXPECT_NE(text.find("http_request_duration_seconds_bucket{method=\"LBL\",endpoint=\"/"
                      "labels\",le=\"0.005\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("http_request_duration_seconds_bucket{method=\"LBL\",endpoint=\"/"
                      "labels\",le=\"10\"} 1\n"),
            std::string::npos);
}

TEST_F(CatalogTest, CounterMethodsMoveTheirSeries) {
  struct Case {
    const char* series;
    void (*call)();
    double amount;
  };
  const Case cases[] = {
      {"http_requests_total{method=\"GET\",endpoint=\"/ut\",status=\"200\"}",
       [] { PrometheusMetrics::increment_http_requests("GET", "/ut", 200); }, 1},
      {"http_requests_total{method=\"POST\",endpoint=\"/ut\",status=\"503\"}",
       [] { PrometheusMetrics::increment_http_requests("POST", "/ut", std::string_view("503")); },
       1},
      {"bot_messages_total{message_type=\"ut_text\"}",
       [] { PrometheusMetrics::increment_bot_messages("ut_text"); }, 1},
      {"errors_total{error_type=\"ValueError\",module=\"ut_payment\"}",
       [] { PrometheusMetrics::increment_errors("ValueError", "ut_payment"); }, 1},
      {"payment_requests_total{payment_system=\"ut_yookassa\"}",
       [] { PrometheusMetrics::increment_payment_requests("ut_yookassa"); }, 1},
      {"payment_success_total{payment_system=\"ut_yookassa\"}",
       [] { PrometheusMetrics::increment_payment_success("ut_yookassa"); }, 1},
      {"subscription_created_total{plan=\"ut_monthly\"}",
       [] { PrometheusMetrics::increment_subscription_created("ut_monthly"); }, 1},
      {"referral_revenue_total{currency=\"UTR\"}",
       [] { CustomMetrics::increment_referral_revenue("UTR", 1000.0); }, 1000},
  };
  for (const Case& c : cases) {
    const std::string before = serialize(registry());
    c.call();
    c.call();
    const std::string after = serialize(registry());
    EXPECT_EQ(sample_or_zero(after, c.series), sample_or_zero(before, c.series) + 2 * c.amount)
        << c.series;
    // Nothing else in the counter families moved.
    for (const Case& other : cases) {
      if (std::string_view(other.series) == c.series) continue;
      EXPECT_EQ(sample_or_zero(after, other.series), sample_or_zero(before, other.series))
          << c.series << " also moved " << other.series;
    }
  }
}

TEST_F(CatalogTest, NegativeReferralRevenueIsRejected) {
  EXPECT_THROW(CustomMetrics::increment_referral_revenue("UTR", -5), MetricError);
}

TEST_F(CatalogTest, GaugeMethodsSetTheirSeries) {
  PrometheusMetrics::set_active_users(150);
  PrometheusMetrics::set_active_subscriptions(42);
  PrometheusMetrics::set_database_connections(7);
  CustomMetrics::set_conversion_rate("ut_daily", 15.5);
  CustomMetrics::set_churn_rate("ut_monthly", 2.25);
  CustomMetrics::set_average_ltv("UTR", 1234.5);
  CustomMetrics::set_payment_system_availability("ut_up", true);
  CustomMetrics::set_payment_system_availability("ut_down", true);
  CustomMetrics::set_payment_system_availability("ut_down", false);
  const std::string text = serialize(registry());
  EXPECT_EQ(sample_or_zero(text, "active_users"), 150);
  EXPECT_EQ(sample_or_zero(text, "active_subscriptions"), 42);
  EXPECT_EQ(sample_or_zero(text, "database_connections"), 7);
  EXPECT_EQ(sample_or_zero(text, "conversion_rate{period=\"ut_daily\"}"), 15.5);
  EXPECT_EQ(sample_or_zero(text, "churn_rate{period=\"ut_monthly\"}"), 2.25);
  EXPECT_EQ(sample_or_zero(text, "average_ltv{currency=\"UTR\"}"), 1234.5);
  EXPECT_EQ(test::sample_value(text, "payment_system_availability{payment_system=\"ut_up\"}"), 1.0);
  EXPECT_EQ(test::sample_value(text, "payment_system_availability{payment_system=\"ut_down\"}"),
            0.0);
  PrometheusMetrics::set_active_users(3);
  EXPECT_EQ(scraped("active_users"), 3);  // set replaces, it does not add
}

TEST_F(CatalogTest, ObserveMethodsFeedTheirHistograms) {
  const std::string series = "payment_processing_duration_seconds";
  const std::string labels = "{payment_system=\"ut_observe\"";
  PrometheusMetrics::observe_payment_processing_duration("ut_observe", 1.5);
  PrometheusMetrics::observe_payment_processing_duration("ut_observe", 0.75);
  const std::string text = serialize(registry());
  EXPECT_EQ(sample_or_zero(text, series + "_count" + labels + "}"), 2);
  EXPECT_EQ(sample_or_zero(text, series + "_sum" + labels + "}"), 2.25);
  EXPECT_EQ(sample_or_zero(text, series + "_bucket" + labels + ",le=\"0.5\"}"), 0);
  EXPECT_EQ(sample_or_zero(text, series + "_bucket" + labels + ",le=\"1\"}"), 1);
  EXPECT_EQ(sample_or_zero(text, series + "_bucket" + labels + ",le=\"2.5\"}"), 2);
  EXPECT_EQ(sample_or_zero(text, series + "_bucket" + labels + ",le=\"+Inf\"}"), 2);

  PrometheusMetrics::observe_http_request_duration("GET", "/ut_observe", 0.25);
  PrometheusMetrics::observe_bot_handler_duration("ut_start", 0.5);
  CustomMetrics::observe_panel_api_response_time("/ut_observe", 0.125);
  const std::string after = serialize(registry());
  EXPECT_EQ(
      sample_or_zero(after,
                     "http_request_duration_seconds_sum{method=\"GET\",endpoint=\"/ut_observe\"}"),
      0.25);
  EXPECT_EQ(sample_or_zero(after, "bot_handler_duration_seconds_sum{handler=\"ut_start\"}"), 0.5);
  EXPECT_EQ(sample_or_zero(after, "panel_api_response_time_sum{endpoint=\"/ut_observe\"}"), 0.125);
  EXPECT_THROW(PrometheusMetrics::observe_bot_handler_duration("ut_start", std::nan("")),
               MetricError);
}

// One timer kind, its labels, and the count/sum series it must feed.
struct TimerCase {
  const char* kind;
  Labels labels;
  std::string count_series;
  std::string sum_series;
};

std::vector<TimerCase> timer_cases(const std::string& tag) {
  return {
      {"http",
       {{"method", "GET"}, {"endpoint", "/" + tag}},
       "http_request_duration_seconds_count{method=\"GET\",endpoint=\"/" + tag + "\"}",
       "http_request_duration_seconds_sum{method=\"GET\",endpoint=\"/" + tag + "\"}"},
      {"bot_handler",
       {{"handler", tag}},
       "bot_handler_duration_seconds_count{handler=\"" + tag + "\"}",
       "bot_handler_duration_seconds_sum{handler=\"" + tag + "\"}"},
      {"payment",
       {{"payment_system", tag}},
       "payment_processing_duration_seconds_count{payment_system=\"" + tag + "\"}",
       "payment_processing_duration_seconds_sum{payment_system=\"" + tag + "\"}"},
      {"panel_api",
       {{"endpoint", "/" + tag}},
       "panel_api_response_time_count{endpoint=\"/" + tag + "\"}",
       "panel_api_response_time_sum{endpoint=\"/" + tag + "\"}"},
  };
}

TEST_F(CatalogTest, TrackTimeObservesIntoTheMatchingHistogramOnly) {
  const auto cases = timer_cases("ut_track");
  for (const TimerCase& c : cases) {
    const std::string before = serialize(registry());
    {
      auto timer = PrometheusMetrics::track_time(c.kind, c.labels);
      std::this_thread::sleep_for(20ms);  // the point: a duration the timer must measure
    }
    const std::string after = serialize(registry());
    EXPECT_EQ(sample_or_zero(after, c.count_series), sample_or_zero(before, c.count_series) + 1)
        << c.kind;
    const double observed =
        sample_or_zero(after, c.sum_series) - sample_or_zero(before, c.sum_series);
    EXPECT_GE(observed, 0.020) << c.kind;
    EXPECT_LT(observed, 5.0) << c.kind;
    for (const TimerCase& other : cases) {
      if (other.kind == c.kind) continue;
      EXPECT_EQ(sample_or_zero(after, other.count_series),
                sample_or_zero(before, other.count_series))
          << c.kind << " also observed into " << other.kind;
    }
  }
}

TEST_F(CatalogTest, TrackTimeAcceptsLabelsInAnyOrder) {
  const std::string series =
      "http_request_duration_seconds_count{method=\"PUT\",endpoint=\"/ut_order\"}";
  const double before = scraped(series);
  {
    auto timer =
        PrometheusMetrics::track_time("http", {{"endpoint", "/ut_order"}, {"method", "PUT"}});
  }
  EXPECT_EQ(scraped(series), before + 1);
}

template <class Fn>
void expect_metric_error(Fn&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no MetricError; expected one mentioning '" << needle << "'";
  } catch (const MetricError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST_F(CatalogTest, BadTimerKindOrLabelsThrowAtTheCall) {
  expect_metric_error([] { PrometheusMetrics::track_time("database", {}); }, "database");
  expect_metric_error([] { PrometheusMetrics::track_time("", {}); }, "unknown timer kind");
  expect_metric_error(
      [] {
        PrometheusMetrics::track_time("http", {{"method", "GET"}});
      },
      "endpoint");
  expect_metric_error([] { PrometheusMetrics::track_time("payment", {}); }, "payment_system");
  expect_metric_error(
      [] {
        PrometheusMetrics::track_time("payment", {{"payment_system", "a"}, {"currency", "RUB"}});
      },
      "currency");
  expect_metric_error(
      [] {
        PrometheusMetrics::track_time("bot_handler", {{"handler", "a"}, {"handler", "b"}});
      },
      "handler");
  expect_metric_error([] { PrometheusMetrics::timed("nope", {}, [] { return 1; }); }, "nope");
  expect_metric_error(
      [] {
        PrometheusMetrics::timed("payment", {{"system", "x"}}, [] { return 1; });
      },
      "system");
}

TEST_F(CatalogTest, ScopedTimerStopCancelAndMove) {
  const auto c = timer_cases("ut_scoped")[2];
  const double before = scraped(c.count_series);
  {
    auto timer = PrometheusMetrics::track_time(c.kind, c.labels);
    const double seconds = timer.stop();
    EXPECT_GE(seconds, 0.0);
    EXPECT_EQ(timer.stop(), 0.0);  // a second stop observes nothing
  }
  EXPECT_EQ(scraped(c.count_series), before + 1);
  {
    auto timer = PrometheusMetrics::track_time(c.kind, c.labels);
    timer.cancel();
  }
  EXPECT_EQ(scraped(c.count_series), before + 1);
  {
    auto timer = PrometheusMetrics::track_time(c.kind, c.labels);
    ScopedTimer moved(std::move(timer));  // only the new owner observes
  }
  EXPECT_EQ(scraped(c.count_series), before + 2);
}

TEST_F(CatalogTest, TimedKeepsTheSignatureAndTimesEachCall) {
  const auto c = timer_cases("ut_timed")[2];
  auto doubled = PrometheusMetrics::timed(c.kind, c.labels, [](int payment_id) {
    std::this_thread::sleep_for(10ms);  // the point: a duration the wrapper must measure
    return payment_id * 2;
  });
  static_assert(std::is_invocable_r_v<int, decltype(doubled)&, int>);
  static_assert(std::is_same_v<decltype(doubled(1)), int>);
  const double count_before = scraped(c.count_series);
  const double sum_before = scraped(c.sum_series);
  EXPECT_EQ(doubled(21), 42);
  EXPECT_EQ(doubled(5), 10);
  EXPECT_EQ(scraped(c.count_series), count_before + 2);
  EXPECT_GE(scraped(c.sum_series) - sum_before, 0.020);
}

TEST_F(CatalogTest, TimedForwardsReferencesMoveOnlyArgumentsAndVoid) {
  const auto c = timer_cases("ut_forward")[1];
  const double before = scraped(c.count_series);

  auto append = PrometheusMetrics::timed(c.kind, c.labels, [](std::string& s) { s += "!"; });
  std::string text = "paid";
  append(text);
  EXPECT_EQ(text, "paid!");
  static_assert(std::is_void_v<decltype(append(text))>);

  auto unwrap =
      PrometheusMetrics::timed(c.kind, c.labels, [](std::unique_ptr<int> p) { return *p + 1; });
  EXPECT_EQ(unwrap(std::make_unique<int>(41)), 42);

  int storage[2] = {0, 0};
  auto slot =
      PrometheusMetrics::timed(c.kind, c.labels, [&storage](int i) -> int& { return storage[i]; });
  static_assert(std::is_same_v<decltype(slot(0)), int&>);
  slot(1) = 7;
  EXPECT_EQ(storage[1], 7);

  EXPECT_EQ(scraped(c.count_series), before + 3);
}

TEST_F(CatalogTest, TimedRethrowsAndStillRecordsTheTime) {
  const auto c = timer_cases("ut_throw")[0];
  auto failing = PrometheusMetrics::timed(c.kind, c.labels, [](int id) -> int {
    std::this_thread::sleep_for(10ms);  // the point: a duration recorded despite the throw
    throw std::invalid_argument("payment " + std::to_string(id) + " declined");
  });
  const double count_before = scraped(c.count_series);
  const double sum_before = scraped(c.sum_series);
  try {
    failing(42);
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "payment 42 declined");
  }
  EXPECT_EQ(scraped(c.count_series), count_before + 1);
  EXPECT_GE(scraped(c.sum_series) - sum_before, 0.010);
}

namespace asio = boost::asio;

asio::awaitable<int> slow_increment(int value) {
  asio::steady_timer timer(co_await asio::this_coro::executor, 30ms);
  co_await timer.async_wait(asio::use_awaitable);
  co_return value + 1;
}

TEST_F(CatalogTest, TimedCoroutineObservesOnceAfterCompletion) {
  const auto c = timer_cases("ut_coro")[1];
  auto handler = PrometheusMetrics::timed(c.kind, c.labels, slow_increment);
  static_assert(std::is_same_v<decltype(handler(1)), asio::awaitable<int>>);
  const double count_before = scraped(c.count_series);
  const double sum_before = scraped(c.sum_series);

  asio::io_context io;
  int result = 0;
  int completions = 0;
  double count_at_completion = -1;
  asio::co_spawn(io, handler(41), [&](std::exception_ptr error, int value) {
    EXPECT_FALSE(error);
    result = value;
    ++completions;
    count_at_completion = scraped(c.count_series);
  });
  // Creating and spawning the coroutine observes nothing yet.
  EXPECT_EQ(scraped(c.count_series), count_before);
  io.run();

  EXPECT_EQ(completions, 1);
  EXPECT_EQ(result, 42);
  EXPECT_EQ(count_at_completion, count_before + 1);  // observed before the caller sees the result
  EXPECT_EQ(scraped(c.count_series), count_before + 1);
  EXPECT_GE(scraped(c.sum_series) - sum_before, 0.030);  // the awaited time, not just the call
}

TEST_F(CatalogTest, TimedCoroutineExceptionPassesThroughAndIsTimed) {
  const auto c = timer_cases("ut_coro_throw")[3];
  auto failing = PrometheusMetrics::timed(c.kind, c.labels, [](int value) -> asio::awaitable<int> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 10ms);
    co_await timer.async_wait(asio::use_awaitable);
    if (value > 0) throw std::runtime_error("panel down");
    co_return value;
  });
  const double count_before = scraped(c.count_series);
  asio::io_context io;
  std::string message;
  asio::co_spawn(io, failing(1), [&](std::exception_ptr error, int) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
  });
  // Awaited from another coroutine, too.
  int awaited = -1;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { awaited = co_await failing(0); }, asio::detached);
  io.run();
  EXPECT_EQ(message, "panel down");
  EXPECT_EQ(awaited, 0);
  EXPECT_EQ(scraped(c.count_series), count_before + 2);
}

}  // namespace
}  // namespace monitoring::metrics
