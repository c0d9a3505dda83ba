// Info, state sets, scrape-time gauges and in-progress tracking: what they expose in both
// formats, and how every entry point refuses wrong input.

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "metrics_test_util.hpp"
#include "monitoring/error.hpp"
#include "monitoring/metrics/callback_gauge.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/info.hpp"
#include "monitoring/metrics/registry.hpp"
#include "monitoring/metrics/stateset.hpp"
#include "support/eventually.hpp"

namespace monitoring::metrics {
namespace {

using test::sample_value;

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// The MetricError message of `action`, or "" when it did not throw one.
template <class Fn>
std::string error_of(Fn&& action) {
  try {
    action();
  } catch (const MetricError& error) {
    return error.what();
  }
  return {};
}

TEST(InfoMetric, ExposedAsInfoInOpenMetricsAndAsAGaugeInText) {
  Registry registry;
  Info& build = registry.info("app_build", "Build facts.");
  build.set({{"version", "1.2.0"}, {"build_type", "Release"}});
  const std::string text = serialize(registry, ExpositionFormat::kText);
  EXPECT_TRUE(contains(text,
                       "# HELP app_build_info Build facts.\n# TYPE app_build_info gauge\n"
                       "app_build_info{version=\"1.2.0\",build_type=\"Release\"} 1\n"))
      << text;
  const std::string open = serialize(registry, ExpositionFormat::kOpenMetrics);
  EXPECT_TRUE(contains(open,
                       "# TYPE app_build info\n"
                       "app_build_info{version=\"1.2.0\",build_type=\"Release\"} 1\n"))
      << open;
  build.set({{"version", "1.3.0"}});
  EXPECT_EQ(sample_value(serialize(registry, ExpositionFormat::kText),
                         "app_build_info{version=\"1.3.0\"}"),
            1.0);
  EXPECT_EQ(build.pairs(), (Info::Pairs{{"version", "1.3.0"}}));
  EXPECT_EQ(&registry.info("app_build", "Build facts."), &build);  // idempotent
}

TEST(InfoMetric, WrongInputIsRefusedWithTheReason) {
  Registry registry;
  EXPECT_TRUE(contains(error_of([&] { registry.info("", "x"); }), "must not be empty"));
  EXPECT_TRUE(contains(error_of([&] { registry.info("app-build", "x"); }), "invalid metric name"));
  EXPECT_TRUE(contains(error_of([&] { registry.info("__app", "x"); }), "reserved"));
  EXPECT_TRUE(contains(error_of([&] { registry.info("app_info", "x"); }), "_info suffix"));
  Info& info = registry.info("app", "x");
  EXPECT_TRUE(contains(error_of([&] { info.set({{"", "v"}}); }), "must not be empty"));
  EXPECT_TRUE(contains(error_of([&] { info.set({{"1abc", "v"}}); }), "invalid label name"));
  EXPECT_TRUE(contains(error_of([&] { info.set({{"__name__", "v"}}); }), "reserved"));
  EXPECT_TRUE(contains(error_of([&] { info.set({{"le", "v"}}); }), "reserved"));
  EXPECT_TRUE(contains(error_of([&] { info.set({{"quantile", "v"}}); }), "reserved"));
  EXPECT_TRUE(contains(error_of([&] { info.set({{"a", "1"}, {"a", "2"}}); }), "repeats"));
  EXPECT_TRUE(contains(error_of([&] { info.set({{"a", ""}}); }), "empty value"));
  info.set({{"a", "kept"}});
  EXPECT_THROW(info.set({{"b", "ok"}, {"b", "twice"}}), MetricError);
  EXPECT_EQ(info.pairs(), (Info::Pairs{{"a", "kept"}}));  // a refused set changes nothing
  // Names that would expose the same samples as another family clash.
  registry.gauge("other_info", "x");
  EXPECT_TRUE(contains(error_of([&] { registry.info("other", "x"); }), "clashes"));
  EXPECT_TRUE(contains(error_of([&] { registry.gauge("app", "x"); }), "already registered"));
}

TEST(StateSetMetric, EnumSetTurnsExactlyOneStateOn) {
  Registry registry;
  StateSet& state =
      registry.state_set("bot_state", "Bot state.", {"starting", "running", "stopping"});
  state.set("running");
  const std::string text = serialize(registry, ExpositionFormat::kText);
  EXPECT_TRUE(contains(text,
                       "# TYPE bot_state gauge\n"
                       "bot_state{bot_state=\"starting\"} 0\n"
                       "bot_state{bot_state=\"running\"} 1\n"
                       "bot_state{bot_state=\"stopping\"} 0\n"))
      << text;
  const std::string open = serialize(registry, ExpositionFormat::kOpenMetrics);
  EXPECT_TRUE(contains(open, "# TYPE bot_state stateset\n")) << open;
  state.set("stopping");
  EXPECT_FALSE(state.is_set("running"));
  EXPECT_TRUE(state.is_set("stopping"));
  state.set_state("starting", true);  // flags: others stay
  EXPECT_TRUE(state.is_set("stopping"));
  EXPECT_EQ(sample_value(serialize(registry, ExpositionFormat::kText),
                         "bot_state{bot_state=\"starting\"}"),
            1.0);
  EXPECT_EQ(&registry.state_set("bot_state", "Bot state.", {"starting", "running", "stopping"}),
            &state);
}

TEST(StateSetMetric, WrongInputIsRefusedWithTheReason) {
  Registry registry;
  EXPECT_TRUE(contains(error_of([&] { registry.state_set("s", "x", {}); }), "at least one"));
  EXPECT_TRUE(contains(error_of([&] {
                         registry.state_set("s", "x", {"a", "a"});
                       }),
                       "repeats the state 'a'"));
  EXPECT_TRUE(contains(error_of([&] { registry.state_set("s", "x", {"a", ""}); }), "empty state"));
  EXPECT_TRUE(contains(error_of([&] { registry.state_set("ns:state", "x", {"a"}); }), "':'"));
  EXPECT_TRUE(contains(error_of([&] { registry.state_set("9s", "x", {"a"}); }), "invalid"));
  StateSet& state = registry.state_set("s", "x", {"up", "down"});
  const std::string unknown = error_of([&] { state.set("sideways"); });
  EXPECT_TRUE(contains(unknown, "'sideways'")) << unknown;
  EXPECT_TRUE(contains(unknown, "'up', 'down'")) << unknown;
  EXPECT_THROW(state.set_state("sideways", true), MetricError);
  EXPECT_THROW(static_cast<void>(state.is_set("")), MetricError);
  EXPECT_TRUE(contains(error_of([&] { registry.state_set("s", "x", {"up"}); }), "different"));
}

TEST(CallbackGaugeMetric, ValuesAreReadAtScrapeTime) {
  Registry registry;
  std::atomic<double> depth{2};
  CallbackGauge& queue = registry.callback_gauge("queue_depth", "Queued jobs.", {"queue"});
  queue.bind({"mail"}, [&] { return depth.load(); });
  queue.bind({"sms"}, [] { return 0.5; });
  EXPECT_EQ(sample_value(serialize(registry), "queue_depth{queue=\"mail\"}"), 2.0);
  depth = 9;
  EXPECT_EQ(sample_value(serialize(registry), "queue_depth{queue=\"mail\"}"), 9.0);
  queue.bind({"mail"}, [] { return 1.0; });  // rebinding replaces
  EXPECT_EQ(sample_value(serialize(registry), "queue_depth{queue=\"mail\"}"), 1.0);
  EXPECT_EQ(queue.size(), 2u);
  EXPECT_TRUE(queue.unbind({"sms"}));
  EXPECT_FALSE(queue.unbind({"sms"}));
  EXPECT_FALSE(sample_value(serialize(registry), "queue_depth{queue=\"sms\"}"));
  EXPECT_EQ(&registry.callback_gauge("queue_depth", "Queued jobs.", {"queue"}), &queue);
}

TEST(CallbackGaugeMetric, AFailingFunctionLosesOnlyItsSeriesAndIsCounted) {
  Registry registry;
  CallbackGauge& pool = registry.callback_gauge("pool_test_size", "Pool.", {"pool"});
  pool.bind({"ok"}, [] { return 4.0; });
  pool.bind({"throws"}, []() -> double { throw std::runtime_error("pool gone"); });
  pool.bind({"nan"}, [] { return std::nan(""); });
  const auto errors = [] {
    return test::sample_or_zero(
        serialize(Registry::default_registry()),
        "monitoring_metric_callback_errors_total{metric=\"pool_test_size\"}");
  };
  const double before = errors();
  const std::string text = serialize(registry);
  EXPECT_EQ(sample_value(text, "pool_test_size{pool=\"ok\"}"), 4.0);
  EXPECT_FALSE(contains(text, "throws"));
  EXPECT_FALSE(contains(text, "\"nan\""));
  EXPECT_EQ(errors(), before + 2);
}

TEST(CallbackGaugeMetric, AFunctionMayUpdateOtherMetricsDuringTheScrape) {
  Registry registry;
  auto& reads = registry.counter("reads_total", "x");
  registry.callback_gauge("self_reading", "x").bind({}, [&] {
    // A fresh thread's first counter update registers its cells: it must not wait for the
    // scrape's lock.
    std::thread([&] { reads.labels().inc(); }).join();
    reads.labels().inc();
    return 1.0;
  });
  EXPECT_EQ(sample_value(serialize(registry), "self_reading"), 1.0);
  EXPECT_EQ(sample_value(serialize(registry), "reads_total"), 2.0);  // read before the second call
}

TEST(CallbackGaugeMetric, WrongInputIsRefusedWithTheReason) {
  Registry registry;
  EXPECT_TRUE(contains(error_of([&] { registry.callback_gauge("x y", "x"); }), "invalid"));
  EXPECT_TRUE(contains(error_of([&] { registry.callback_gauge("g", "x", {"__l"}); }), "reserved"));
  EXPECT_TRUE(contains(error_of([&] {
                         registry.callback_gauge("g", "x", {"a", "a"});
                       }),
                       "repeats"));
  CallbackGauge& gauge = registry.callback_gauge("g", "x", {"a"});
  EXPECT_TRUE(contains(error_of([&] { gauge.bind({"v"}, nullptr); }), "needs a function"));
  EXPECT_TRUE(contains(error_of([&] { gauge.bind({}, [] { return 1.0; }); }), "label value"));
  EXPECT_TRUE(contains(error_of([&] { registry.gauge("g", "x", {"a"}); }), "callback gauge"));
  registry.gauge("plain", "x");
  EXPECT_TRUE(contains(error_of([&] { registry.callback_gauge("plain", "x"); }), "different"));
  gauge.set_series_limit(1);
  gauge.bind({"one"}, [] { return 1.0; });
  EXPECT_TRUE(contains(error_of([&] { gauge.bind({"two"}, [] { return 2.0; }); }), "limit"));
}

TEST(InProgressTracking, GuardCountsTheScopeEvenWhenItThrows) {
  Registry registry;
  Gauge& active = registry.gauge("active_requests", "x").labels();
  {
    auto outer = active.track_inprogress();
    EXPECT_EQ(active.value(), 1.0);
    try {
      auto inner = active.track_inprogress();
      EXPECT_EQ(active.value(), 2.0);
      throw std::runtime_error("handler failed");
    } catch (const std::runtime_error&) {
    }
    EXPECT_EQ(active.value(), 1.0);
    auto moved = std::move(outer);  // ownership moves, the count does not double
    EXPECT_EQ(active.value(), 1.0);
    moved.release();
    EXPECT_EQ(active.value(), 0.0);
    moved.release();
    EXPECT_EQ(active.value(), 0.0);
  }
  EXPECT_EQ(active.value(), 0.0);
}

TEST(PeerTypesConcurrencyTest, InProgressGuardsFromManyThreadsBalance) {
  Registry registry;
  Gauge& active = registry.gauge("active_concurrent", "x").labels();
  std::atomic<int> inside{0};
  std::atomic<bool> release{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) auto guard = active.track_inprogress();
      auto held = active.track_inprogress();
      ++inside;
      while (!release.load()) std::this_thread::yield();
    });
  }
  EXPECT_TRUE(monitoring::testing::eventually([&] { return inside.load() == 8; }));
  EXPECT_EQ(active.value(), 8.0);
  release = true;
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(active.value(), 0.0);
}

TEST(PeerTypesConcurrencyTest, UnbindWaitsForAScrapeCallingTheFunction) {
  Registry registry;
  CallbackGauge& gauge = registry.callback_gauge("slow_gauge", "x");
  auto owned = std::make_unique<std::atomic<double>>(5.0);
  std::atomic<bool> entered{false}, proceed{false};
  gauge.bind({}, [&, value = owned.get()] {
    entered = true;
    while (!proceed.load()) std::this_thread::yield();
    return value->load();
  });
  std::string scraped;
  std::thread scraper([&] { scraped = serialize(registry); });
  ASSERT_TRUE(monitoring::testing::eventually([&] { return entered.load(); }));
  std::atomic<bool> unbound{false};
  std::thread unbinder([&] {
    EXPECT_TRUE(gauge.unbind({}));
    unbound = true;
  });
  // The scrape is inside the function: unbind must not return yet.
  EXPECT_FALSE(monitoring::testing::eventually([&] { return unbound.load(); },
                                               std::chrono::milliseconds(100)));
  proceed = true;
  unbinder.join();
  EXPECT_TRUE(unbound.load());
  owned.reset();  // safe now: no scrape can call the function any more
  scraper.join();
  EXPECT_EQ(sample_value(scraped, "slow_gauge"), 5.0);
  EXPECT_FALSE(sample_value(serialize(registry), "slow_gauge"));
}

}  // namespace
}  // namespace monitoring::metrics
