// Semantics of the series types: counter, gauge and histogram updates, bucket placement,
// cumulative counts, and the bucket helpers.

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "monitoring/error.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {
namespace {

TEST(CounterTest, StartsAtZeroAndAddsIncrements) {
  Registry registry;
  Counter& counter = registry.counter("jobs_total", "Jobs.").labels();
  EXPECT_EQ(counter.value(), 0.0);
  counter.inc();
  EXPECT_EQ(counter.value(), 1.0);
  counter.inc(2.5);
  counter.inc(0.0);  // zero is a valid (no-op) increment
  EXPECT_EQ(counter.value(), 3.5);
}

TEST(CounterTest, LabelSetsAreIndependentSeries) {
  Registry registry;
  auto& family = registry.counter("requests_total", "Requests.", {"method", "status"});
  family.labels("GET", "200").inc(3);
  family.labels("GET", "500").inc();
  family.labels("POST", "200").inc(7);
  EXPECT_EQ(family.labels("GET", "200").value(), 3.0);
  EXPECT_EQ(family.labels("GET", "500").value(), 1.0);
  EXPECT_EQ(family.labels("POST", "200").value(), 7.0);
  EXPECT_EQ(family.size(), 3u);
}

TEST(CounterTest, LabelsReturnsTheSameSeriesObjectEveryTime) {
  Registry registry;
  auto& family = registry.counter("hits_total", "Hits.", {"path"});
  Counter& bound = family.labels("/a");
  // Every lookup form reaches the same object, so a kept reference is the series.
  EXPECT_EQ(&bound, &family.labels(std::string("/a")));
  EXPECT_EQ(&bound, &family.labels({std::string_view("/a")}));
  const std::vector<std::string_view> values = {"/a"};
  EXPECT_EQ(&bound, &family.labels(std::span<const std::string_view>(values)));
  EXPECT_NE(&bound, &family.labels("/b"));
}

TEST(CounterTest, LabelValuesThatDifferOnlyInSplitAreDistinct) {
  // ("ab", "c") and ("a", "bc") concatenate to the same bytes; they must not collide.
  Registry registry;
  auto& family = registry.counter("split_total", "Split.", {"x", "y"});
  family.labels("ab", "c").inc();
  family.labels("a", "bc").inc(10);
  EXPECT_EQ(family.labels("ab", "c").value(), 1.0);
  EXPECT_EQ(family.labels("a", "bc").value(), 10.0);
  EXPECT_EQ(family.size(), 2u);
}

TEST(GaugeTest, SetIncDec) {
  Registry registry;
  Gauge& gauge = registry.gauge("queue_depth", "Queue depth.").labels();
  EXPECT_EQ(gauge.value(), 0.0);
  gauge.set(10);
  EXPECT_EQ(gauge.value(), 10.0);
  gauge.inc();
  gauge.inc(4.5);
  EXPECT_EQ(gauge.value(), 15.5);
  gauge.dec();
  gauge.dec(20);
  EXPECT_EQ(gauge.value(), -5.5);
  gauge.set(-1e9);
  EXPECT_EQ(gauge.value(), -1e9);
}

TEST(GaugeTest, SetToCurrentTimeUsesUnixSeconds) {
  Registry registry;
  Gauge& gauge = registry.gauge("last_run_timestamp_seconds", "Last run.").labels();
  auto now = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const double before = now();
  gauge.set_to_current_time();
  const double after = now();
  EXPECT_GE(gauge.value(), before);
  EXPECT_LE(gauge.value(), after);
}

TEST(HistogramTest, ValueEqualToABoundGoesIntoThatBucket) {
  Registry registry;
  Histogram& h = registry.histogram("size_bytes", "Sizes.", {}, {1, 2, 4}).labels();
  h.observe(1);  // le="1"
  h.observe(2);  // le="2"
  h.observe(4);  // le="4"
  const auto snapshot = h.snapshot();
  EXPECT_EQ(snapshot.cumulative_counts, (std::vector<double>{1, 2, 3, 3}));
}

TEST(HistogramTest, CumulativeCountsSumAndCount) {
  Registry registry;
  Histogram& h = registry.histogram("latency_seconds", "Latency.", {}, {0.5, 1, 2.5}).labels();
  for (double v : {-3.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 2.75, 1e12}) h.observe(v);
  const auto s = h.snapshot();
  // le=0.5: -3, 0, 0.25, 0.5 | le=1: +0.75, 1 | le=2.5: +1.5, 2.5 | +Inf: +2.75, 1e12
  EXPECT_EQ(s.cumulative_counts, (std::vector<double>{4, 6, 8, 10}));
  EXPECT_EQ(s.count(), 10.0);
  EXPECT_EQ(s.count(), s.cumulative_counts.back());  // _count is the +Inf bucket
  EXPECT_EQ(s.sum, -3.0 + 0.0 + 0.25 + 0.5 + 0.75 + 1.0 + 1.5 + 2.5 + 2.75 + 1e12);
}

TEST(HistogramTest, ManyBucketsUseTheSameLeSemantics) {
  // More than 16 bounds takes the binary-search path; placement must not change.
  Registry registry;
  const std::vector<double> bounds = linear_buckets(1, 1, 40);  // 1..40
  Histogram& h = registry.histogram("wide", "Wide.", {}, bounds).labels();
  h.observe(17);    // exactly a bound -> le="17"
  h.observe(17.5);  // -> le="18"
  h.observe(0.5);   // -> le="1"
  h.observe(40);    // last bound
  h.observe(41);    // +Inf only
  const auto s = h.snapshot();
  ASSERT_EQ(s.cumulative_counts.size(), 41u);
  EXPECT_EQ(s.cumulative_counts[0], 1.0);   // le=1
  EXPECT_EQ(s.cumulative_counts[15], 1.0);  // le=16
  EXPECT_EQ(s.cumulative_counts[16], 2.0);  // le=17
  EXPECT_EQ(s.cumulative_counts[17], 3.0);  // le=18
  EXPECT_EQ(s.cumulative_counts[38], 3.0);  // le=39
  EXPECT_EQ(s.cumulative_counts[39], 4.0);  // le=40
  EXPECT_EQ(s.cumulative_counts[40], 5.0);  // +Inf
  EXPECT_EQ(s.sum, 17 + 17.5 + 0.5 + 40 + 41);
}

TEST(HistogramTest, ExposesItsBounds) {
  Registry registry;
  Histogram& h = registry.histogram("b", "B.", {}, {0.1, 0.2}).labels();
  ASSERT_EQ(h.bounds().size(), 2u);
  EXPECT_EQ(h.bounds()[0], 0.1);
  EXPECT_EQ(h.bounds()[1], 0.2);
}

TEST(HistogramTest, TrailingInfBoundIsImplied) {
  Registry registry;
  Histogram& h =
      registry.histogram("c", "C.", {}, {1, 2, std::numeric_limits<double>::infinity()}).labels();
  EXPECT_EQ(h.bounds().size(), 2u);
  h.observe(5);
  EXPECT_EQ(h.snapshot().cumulative_counts, (std::vector<double>{0, 0, 1}));
}

TEST(BucketsTest, DefaultBucketsAreThePrometheusDefaults) {
  EXPECT_EQ(default_buckets(),
            (std::vector<double>{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}));
  Registry registry;
  EXPECT_EQ(registry.histogram("d", "D.").labels().bounds().size(), 11u);
}

TEST(BucketsTest, LinearBuckets) {
  EXPECT_EQ(linear_buckets(1, 2, 4), (std::vector<double>{1, 3, 5, 7}));
  EXPECT_EQ(linear_buckets(-1, 0.5, 3), (std::vector<double>{-1, -0.5, 0}));
  EXPECT_EQ(linear_buckets(0, 1, 1), (std::vector<double>{0}));
}

TEST(BucketsTest, ExponentialBuckets) {
  EXPECT_EQ(exponential_buckets(1, 2, 5), (std::vector<double>{1, 2, 4, 8, 16}));
  EXPECT_EQ(exponential_buckets(0.001, 10, 3).size(), 3u);
  EXPECT_DOUBLE_EQ(exponential_buckets(0.001, 10, 3)[2], 0.1);
}

TEST(BucketsTest, LinearBucketErrorsNameTheValue) {
  try {
    linear_buckets(0, -2, 3);
    FAIL() << "negative width accepted";
  } catch (const MetricError& e) {
    EXPECT_NE(std::string(e.what()).find("-2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(linear_buckets(0, 0, 3), MetricError);
  EXPECT_THROW(linear_buckets(0, 1, 0), MetricError);
  EXPECT_THROW(linear_buckets(std::nan(""), 1, 3), MetricError);
  EXPECT_THROW(linear_buckets(0, std::numeric_limits<double>::infinity(), 3), MetricError);
}

TEST(BucketsTest, ExponentialBucketErrorsNameTheValue) {
  try {
    exponential_buckets(1, 0.5, 3);
    FAIL() << "factor below 1 accepted";
  } catch (const MetricError& e) {
    EXPECT_NE(std::string(e.what()).find("0.5"), std::string::npos) << e.what();
  }
  EXPECT_THROW(exponential_buckets(0, 2, 3), MetricError);
  EXPECT_THROW(exponential_buckets(-1, 2, 3), MetricError);
  EXPECT_THROW(exponential_buckets(1, 1, 3), MetricError);
  EXPECT_THROW(exponential_buckets(1, 2, 0), MetricError);
  EXPECT_THROW(exponential_buckets(std::nan(""), 2, 3), MetricError);
}

TEST(BucketsTest, RegistryRejectsBadBucketLists) {
  Registry registry;
  EXPECT_THROW(registry.histogram("h1", "H.", {}, {}), MetricError);
  EXPECT_THROW(registry.histogram("h2", "H.", {}, {1, 1}), MetricError);
  EXPECT_THROW(registry.histogram("h3", "H.", {}, {2, 1}), MetricError);
  EXPECT_THROW(registry.histogram("h4", "H.", {}, {1, std::nan("")}), MetricError);
  EXPECT_THROW(registry.histogram("h5", "H.", {}, {-std::numeric_limits<double>::infinity(), 1}),
               MetricError);
  // Exponential buckets that overflow to +Inf in the middle are caught at registration.
  EXPECT_THROW(registry.histogram("h6", "H.", {}, exponential_buckets(1e300, 1e10, 3)),
               MetricError);
  try {
    registry.histogram("bad_order", "H.", {}, {1, 3, 2});
    FAIL();
  } catch (const MetricError& e) {
    EXPECT_NE(std::string(e.what()).find("bad_order"), std::string::npos) << e.what();
  }
  EXPECT_EQ(registry.family_count(), 0u);
}

}  // namespace
}  // namespace monitoring::metrics

namespace monitoring::metrics {
namespace {

TEST(SeriesKeyTest, StoresRawAndEscapedLabelValues) {
  Registry registry;
  auto& family = registry.counter("key_total", "Key.", {"plain", "quoted", "empty", "broken"});
  Counter& series = family.labels("plain", "say \"hi\"\\\n", "", "a\xFF");
  ASSERT_EQ(series.label_count(), 4u);
  EXPECT_EQ(series.label_value(0), "plain");
  EXPECT_EQ(series.label_value(1), "say \"hi\"\\\n");
  EXPECT_EQ(series.label_value(2), "");
  EXPECT_EQ(series.label_value(3), "a\xEF\xBF\xBD");  // stored repaired, as exported
  EXPECT_EQ(series.exposed_label_value(0), "plain");
  EXPECT_EQ(series.exposed_label_value(1), "say \\\"hi\\\"\\\\\\n");
  EXPECT_EQ(series.exposed_label_value(2), "");
  EXPECT_EQ(series.exposed_label_value(3), "a\xEF\xBF\xBD");
  EXPECT_EQ(series.label_values(),
            (std::vector<std::string>{"plain", "say \"hi\"\\\n", "", "a\xEF\xBF\xBD"}));
  // Lookups compare the raw bytes, not the escaped ones.
  EXPECT_EQ(&family.labels("plain", "say \"hi\"\\\n", "", "a\xFF"), &series);
  EXPECT_NE(&family.labels("plain", "say \\\"hi\\\"\\\\\\n", "", "a\xFF"), &series);
}

// Joins pieces with append (GCC 12 warns falsely on some chained operator+ of strings).
std::string concat(std::initializer_list<std::string_view> pieces) {
  std::string out;
  for (std::string_view piece : pieces) out.append(piece);
  return out;
}

TEST(SeriesKeyTest, ManyAndLongLabelValues) {
  Registry registry;
  std::vector<std::string> names, values;
  for (int i = 0; i < 12; ++i) {
    names.push_back(concat({"l", std::to_string(i)}));
    values.push_back(std::string(static_cast<std::size_t>(i) * 997, static_cast<char>('a' + i)));
  }
  const std::string long_value(100000, 'x');
  values[5] = concat({long_value, "\""});
  auto& family = registry.gauge("long_labels", "Long.", names);
  const std::vector<std::string_view> views(values.begin(), values.end());
  Gauge& series = family.labels(std::span<const std::string_view>(views));
  series.set(1);
  for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(series.label_value(i), values[i]) << i;
  EXPECT_EQ(&family.labels(std::span<const std::string_view>(views)), &series);
  const std::string text = serialize(registry);
  EXPECT_NE(text.find(concat({"l5=\"", long_value, "\\\"\""})), std::string::npos);
  EXPECT_NE(text.find(concat({"l11=\"", values[11], "\"} 1\n"})), std::string::npos);
}

TEST(SeriesKeyTest, EmbeddedNulBytesAreSignificant) {
  Registry registry;
  auto& family = registry.counter("nul_total", "Nul.", {"k"});
  family.labels(std::string_view("a\0b", 3)).inc();
  family.labels(std::string_view("a\0c", 3)).inc(5);
  family.labels(std::string_view("a", 1)).inc(7);
  EXPECT_EQ(family.size(), 3u);
  EXPECT_EQ(family.labels(std::string_view("a\0b", 3)).value(), 1.0);
  EXPECT_EQ(family.labels(std::string_view("a\0c", 3)).value(), 5.0);
  EXPECT_EQ(family.labels(std::string_view("a", 1)).value(), 7.0);
}

TEST(SeriesKeyTest, ForEachVisitsSeriesInCreationOrder) {
  Registry registry;
  auto& family = registry.counter("order_total", "Order.", {"k"});
  for (const char* k : {"c", "a", "b"}) family.labels(k).inc();
  ASSERT_TRUE(family.remove({"a"}));
  std::vector<std::string> seen;
  family.for_each([&](const Counter& series) { seen.emplace_back(series.label_value(0)); });
  EXPECT_EQ(seen, (std::vector<std::string>{"c", "b"}));
}

}  // namespace
}  // namespace monitoring::metrics
