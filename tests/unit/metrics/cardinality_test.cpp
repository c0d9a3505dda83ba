// Cardinality limits (overflow series, refused-series counter), series removal and the reuse
// of a removed or destroyed series' cells.

#include <gtest/gtest.h>

#include <string>

#include "metrics_test_util.hpp"
#include "monitoring/error.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {
namespace {

using test::sample_or_zero;
using test::sample_value;

double refused_count(const std::string& metric) {
  return sample_or_zero(serialize(Registry::default_registry()),
                        "monitoring_metric_series_refused_total{metric=\"" + metric + "\"}");
}

TEST(CardinalityTest, SeriesPastTheLimitGoToAnUnexportedOverflowSeries) {
  Registry registry;
  auto& family = registry.counter("cardinality_limited_total", "Limited.", {"user"});
  family.set_series_limit(3);
  EXPECT_EQ(family.series_limit(), 3u);
  const double refused_before = refused_count("cardinality_limited_total");

  family.labels("a").inc(1);
  family.labels("b").inc(2);
  family.labels("c").inc(3);
  Counter* overflow = nullptr;
  ASSERT_NO_THROW(overflow = &family.labels("d"));
  ASSERT_NO_THROW(overflow->inc(100));
  EXPECT_EQ(family.size(), 3u);

  const std::string text = serialize(registry);
  EXPECT_EQ(text.find("user=\"d\""), std::string::npos) << text;
  EXPECT_EQ(text.find(" 100\n"), std::string::npos) << text;
  EXPECT_EQ(refused_count("cardinality_limited_total"), refused_before + 1);

  // Existing series keep working, also after the refusal.
  family.labels("a").inc(10);
  EXPECT_EQ(family.labels("a").value(), 11.0);
  const std::string after = serialize(registry);
  EXPECT_EQ(sample_value(after, "cardinality_limited_total{user=\"a\"}"), 11.0);
  EXPECT_EQ(sample_value(after, "cardinality_limited_total{user=\"b\"}"), 2.0);
  EXPECT_EQ(sample_value(after, "cardinality_limited_total{user=\"c\"}"), 3.0);

  // Every refused lookup is counted, also repeats of the same label set.
  family.labels("e").inc();
  family.labels("d").inc();
  EXPECT_EQ(refused_count("cardinality_limited_total"), refused_before + 3);
  EXPECT_EQ(family.size(), 3u);
}

TEST(CardinalityTest, LimitAppliesToHistogramsAndGauges) {
  Registry registry;
  const double histogram_refused = refused_count("cardinality_limited_seconds");
  const double gauge_refused = refused_count("cardinality_limited_gauge");
  auto& histogram = registry.histogram("cardinality_limited_seconds", "Limited.", {"route"}, {1});
  histogram.set_series_limit(1);
  histogram.labels("/a").observe(0.5);
  EXPECT_NO_THROW(histogram.labels("/b").observe(0.5));
  auto& gauge = registry.gauge("cardinality_limited_gauge", "Limited.", {"k"});
  gauge.set_series_limit(2);
  gauge.labels("1").set(1);
  gauge.labels("2").set(2);
  EXPECT_NO_THROW(gauge.labels("3").set(3));
  const std::string text = serialize(registry);
  EXPECT_EQ(text.find("/b"), std::string::npos) << text;
  EXPECT_EQ(text.find("k=\"3\""), std::string::npos) << text;
  EXPECT_EQ(sample_value(text, "cardinality_limited_seconds_count{route=\"/a\"}"), 1.0);
  EXPECT_EQ(refused_count("cardinality_limited_seconds"), histogram_refused + 1);
  EXPECT_EQ(refused_count("cardinality_limited_gauge"), gauge_refused + 1);
}

TEST(CardinalityTest, DefaultLimitAppliesToLaterFamilies) {
  Registry registry;
  auto& before = registry.counter("cardinality_before_total", "x", {"k"});
  registry.set_default_series_limit(2);
  auto& after = registry.counter("cardinality_after_total", "x", {"k"});
  EXPECT_EQ(before.series_limit(), kDefaultSeriesLimit);
  EXPECT_EQ(after.series_limit(), 2u);
  for (const char* k : {"1", "2", "3", "4"}) {
    before.labels(k).inc();
    after.labels(k).inc();
  }
  EXPECT_EQ(before.size(), 4u);
  EXPECT_EQ(after.size(), 2u);
}

TEST(CardinalityTest, RemovingASeriesMakesRoomUnderTheLimit) {
  Registry registry;
  auto& family = registry.counter("cardinality_churn_total", "x", {"k"});
  const double refused_before = refused_count("cardinality_churn_total");
  family.set_series_limit(2);
  family.labels("a").inc();
  family.labels("b").inc();
  EXPECT_TRUE(family.remove({"a"}));
  family.labels("c").inc(5);
  EXPECT_EQ(family.size(), 2u);
  EXPECT_EQ(sample_value(serialize(registry), "cardinality_churn_total{k=\"c\"}"), 5.0);
  EXPECT_EQ(refused_count("cardinality_churn_total"), refused_before);
}

TEST(RemoveTest, RemovedSeriesDisappearsAndComesBackFromZero) {
  Registry registry;
  auto& family = registry.counter("remove_total", "x", {"k"});
  family.labels("gone").inc(7);
  family.labels("kept").inc(1);
  EXPECT_EQ(sample_value(serialize(registry), "remove_total{k=\"gone\"}"), 7.0);

  EXPECT_TRUE(family.remove({"gone"}));
  EXPECT_EQ(family.size(), 1u);
  const std::string text = serialize(registry);
  EXPECT_EQ(text.find("gone"), std::string::npos) << text;
  EXPECT_EQ(sample_value(text, "remove_total{k=\"kept\"}"), 1.0);

  EXPECT_FALSE(family.remove({"gone"}));
  EXPECT_FALSE(family.remove({"never"}));
  EXPECT_THROW(family.remove({"a", "b"}), MetricError);

  Counter& revived = family.labels("gone");
  EXPECT_EQ(revived.value(), 0.0);
  revived.inc(2);
  EXPECT_EQ(sample_value(serialize(registry), "remove_total{k=\"gone\"}"), 2.0);
  EXPECT_EQ(family.labels("kept").value(), 1.0);
}

TEST(RemoveTest, RemoveWorksForGaugesAndHistograms) {
  Registry registry;
  auto& gauge = registry.gauge("remove_gauge", "x", {"k"});
  gauge.labels("g").set(42);
  EXPECT_TRUE(gauge.remove({"g"}));
  EXPECT_EQ(serialize(registry).find("k=\"g\""), std::string::npos);
  EXPECT_EQ(gauge.labels("g").value(), 0.0);

  auto& histogram = registry.histogram("remove_seconds", "x", {"k"}, {1, 2});
  histogram.labels("h").observe(1.5);
  histogram.labels("h").observe(0.5);
  EXPECT_TRUE(histogram.remove({"h"}));
  EXPECT_EQ(serialize(registry).find("k=\"h\""), std::string::npos);
  const auto snapshot = histogram.labels("h").snapshot();
  EXPECT_EQ(snapshot.cumulative_counts, (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(snapshot.sum, 0.0);
  histogram.labels("h").observe(1.5);
  EXPECT_EQ(sample_value(serialize(registry), "remove_seconds_bucket{k=\"h\",le=\"2\"}"), 1.0);
}

TEST(RemoveTest, RemovedSeriesCellsAreNotSharedWithNewSeries) {
  // The cells a removed series gave back may be handed to a new series; the two must then
  // not see each other's updates.
  Registry registry;
  auto& family = registry.counter("remove_reuse_total", "x", {"k"});
  family.labels("x").inc(3);
  ASSERT_TRUE(family.remove({"x"}));
  Counter& fresh = family.labels("y");
  Counter& revived = family.labels("x");
  fresh.inc(1);
  revived.inc(10);
  EXPECT_EQ(fresh.value(), 1.0);
  EXPECT_EQ(revived.value(), 10.0);
}

TEST(RemoveTest, ManyRemovesAndReAddsKeepTheTableConsistent) {
  // Tombstones pile up under churn; lookups must keep finding the live series.
  Registry registry;
  auto& family = registry.counter("remove_churn_total", "x", {"k"});
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 20; ++i) family.labels(std::to_string(round * 20 + i)).inc();
    for (int i = 0; i < 20; i += 2) ASSERT_TRUE(family.remove({std::to_string(round * 20 + i)}));
  }
  EXPECT_EQ(family.size(), 500u);
  for (int i = 0; i < 1000; ++i) {
    const std::string key = std::to_string(i);
    if (i % 2 == 1) {
      EXPECT_EQ(family.labels(key).value(), 1.0) << key;
    }
  }
  EXPECT_EQ(family.size(), 500u);
}

TEST(RegistryLifetimeTest, CellsOfADestroyedRegistryAreZeroForTheNextOne) {
  for (int round = 0; round < 3; ++round) {
    Registry registry;
    auto& counter = registry.counter("lifetime_total", "x", {"k"});
    auto& histogram = registry.histogram("lifetime_seconds", "x", {}, {1});
    EXPECT_EQ(counter.labels("a").value(), 0.0) << "round " << round;
    EXPECT_EQ(histogram.labels().snapshot().count(), 0.0) << "round " << round;
    counter.labels("a").inc(5);
    histogram.labels().observe(0.5);
  }
}

}  // namespace
}  // namespace monitoring::metrics
