// Bad input gets a MetricError that names the offending value: metric and label names,
// label counts, non-finite or negative values, conflicting registrations.

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "monitoring/error.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::nan("");

// Runs `fn`, expects a MetricError whose message contains `needle`.
template <class Fn>
void expect_metric_error(Fn&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no MetricError thrown; expected one mentioning '" << needle << "'";
  } catch (const MetricError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message '" << e.what() << "' does not mention '" << needle << "'";
  }
}

TEST(ValidationTest, MetricErrorIsAMonitoringError) {
  Registry registry;
  EXPECT_THROW(registry.counter("1abc", "x"), monitoring::Error);
  EXPECT_THROW(registry.counter("1abc", "x"), std::runtime_error);
}

TEST(ValidationTest, InvalidMetricNamesAreRejected) {
  Registry registry;
  expect_metric_error([&] { registry.counter("1abc", "x"); }, "'1abc'");
  expect_metric_error([&] { registry.gauge("a-b", "x"); }, "'a-b'");
  expect_metric_error([&] { registry.histogram("__x", "x"); }, "'__x'");
  expect_metric_error([&] { registry.counter("", "x"); }, "empty");
  expect_metric_error([&] { registry.counter("a b", "x"); }, "'a b'");
  expect_metric_error([&] { registry.counter("caf\xC3\xA9", "x"); }, "caf");
  EXPECT_EQ(registry.family_count(), 0u);
}

// Found by fuzz/exposition: OpenMetrics drops a counter's "_total", which left this family
// with an empty name ("# TYPE  counter").
TEST(ValidationTest, CounterNamedOnlyTotalIsRejected) {
  Registry registry;
  expect_metric_error([&] { registry.counter("_total", "x"); }, "'_total'");
  EXPECT_NO_THROW(registry.gauge("_total", "x"));  // a gauge keeps its name in OpenMetrics
  EXPECT_NO_THROW(registry.counter("a_total", "x"));
}

TEST(ValidationTest, ValidMetricNamesAreAccepted) {
  Registry registry;
  EXPECT_NO_THROW(registry.counter("a", "x"));
  EXPECT_NO_THROW(registry.counter("_a1", "x"));
  EXPECT_NO_THROW(registry.counter("job:rate5m", "x"));  // recording-rule style colons
  EXPECT_NO_THROW(registry.counter(":a", "x"));
  EXPECT_NO_THROW(registry.counter("A_b_C9", "x"));
  EXPECT_EQ(registry.family_count(), 5u);
}

TEST(ValidationTest, MessageOfAControlCharacterNameIsPrintable) {
  Registry registry;
  try {
    registry.counter("bad\nname", "x");
    FAIL();
  } catch (const MetricError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad?name"), std::string::npos) << e.what();
  }
}

TEST(ValidationTest, InvalidLabelNamesAreRejected) {
  Registry registry;
  expect_metric_error([&] { registry.counter("c1", "x", {"__x"}); }, "'__x'");
  expect_metric_error([&] { registry.counter("c2", "x", {"a:b"}); },
                      "'a:b'");  // no colons in labels
  expect_metric_error([&] { registry.counter("c3", "x", {"9a"}); }, "'9a'");
  expect_metric_error([&] { registry.gauge("c4", "x", {"ok", ""}); }, "empty");
  expect_metric_error([&] { registry.counter("c5", "x", {"a-b"}); }, "'a-b'");
  EXPECT_EQ(registry.family_count(), 0u);
}

TEST(ValidationTest, LeIsReservedOnHistogramsOnly) {
  Registry registry;
  expect_metric_error([&] { registry.histogram("h", "x", {"method", "le"}); }, "'le'");
  EXPECT_NO_THROW(registry.gauge("g", "x", {"le"}));
}

TEST(ValidationTest, DuplicateLabelNamesAreRejected) {
  Registry registry;
  expect_metric_error([&] { registry.counter("dup_total", "x", {"a", "b", "a"}); }, "'a'");
  EXPECT_EQ(registry.family_count(), 0u);
}

TEST(ValidationTest, StandaloneValidatorsMatchTheRegistry) {
  EXPECT_NO_THROW(validate_metric_name("http_requests_total"));
  EXPECT_THROW(validate_metric_name("1abc"), MetricError);
  EXPECT_NO_THROW(validate_label_name("payment_system"));
  EXPECT_THROW(validate_label_name("__name__"), MetricError);
}

TEST(ValidationTest, WrongLabelCountNamesTheFamilyAndCounts) {
  Registry registry;
  auto& family = registry.counter("payments_total", "x", {"system", "currency"});
  expect_metric_error([&] { family.labels("yookassa"); }, "payments_total");
  expect_metric_error([&] { family.labels("a", "b", "c"); }, "got 3");
  expect_metric_error([&] { family.labels(); }, "takes 2");
  auto& unlabeled = registry.gauge("temperature", "x");
  expect_metric_error([&] { unlabeled.labels("extra"); }, "temperature");
  EXPECT_EQ(family.size(), 0u);
}

TEST(ValidationTest, CounterRejectsNegativeAndNonFiniteIncrements) {
  Registry registry;
  Counter& counter = registry.counter("events_total", "x").labels();
  expect_metric_error([&] { counter.inc(-1); }, "-1");
  expect_metric_error([&] { counter.inc(kNaN); }, "NaN");
  expect_metric_error([&] { counter.inc(kInf); }, "+Inf");
  expect_metric_error([&] { counter.inc(-kInf); }, "-Inf");
  EXPECT_EQ(counter.value(), 0.0);  // nothing was added by the refused calls
}

TEST(ValidationTest, GaugeRejectsNonFiniteValues) {
  Registry registry;
  Gauge& gauge = registry.gauge("level", "x").labels();
  gauge.set(3);
  expect_metric_error([&] { gauge.set(kNaN); }, "NaN");
  expect_metric_error([&] { gauge.set(kInf); }, "+Inf");
  expect_metric_error([&] { gauge.inc(kNaN); }, "NaN");
  expect_metric_error([&] { gauge.dec(-kInf); }, "-Inf");
  EXPECT_EQ(gauge.value(), 3.0);
}

TEST(ValidationTest, HistogramRejectsNonFiniteObservations) {
  Registry registry;
  Histogram& h = registry.histogram("duration_seconds", "x").labels();
  expect_metric_error([&] { h.observe(kNaN); }, "NaN");
  expect_metric_error([&] { h.observe(kInf); }, "+Inf");
  expect_metric_error([&] { h.observe(-kInf); }, "-Inf");
  EXPECT_EQ(h.snapshot().count(), 0.0);
  EXPECT_EQ(h.snapshot().sum, 0.0);
}

TEST(ValidationTest, SameRegistrationReturnsTheSameFamily) {
  Registry registry;
  auto& counter = registry.counter("same_total", "Help.", {"a", "b"});
  EXPECT_EQ(&counter, &registry.counter("same_total", "Help.", {"a", "b"}));
  EXPECT_EQ(&counter, &registry.counter("same_total", "Other help is not a conflict.", {"a", "b"}));
  auto& gauge = registry.gauge("same_gauge", "Help.");
  EXPECT_EQ(&gauge, &registry.gauge("same_gauge", "Help."));
  auto& histogram = registry.histogram("same_seconds", "Help.", {"x"}, {1, 2});
  EXPECT_EQ(&histogram, &registry.histogram("same_seconds", "Help.", {"x"}, {1, 2}));
  EXPECT_EQ(&histogram, &registry.histogram("same_seconds", "Help.", {"x"}, {1, 2, kInf}));
  EXPECT_EQ(registry.family_count(), 3u);
  // The series survive re-registration.
  counter.labels("1", "2").inc(5);
  EXPECT_EQ(registry.counter("same_total", "Help.", {"a", "b"}).labels("1", "2").value(), 5.0);
}

TEST(ValidationTest, ConflictingRegistrationThrows) {
  Registry registry;
  registry.counter("taken", "Help.", {"a"});
  registry.histogram("taken_seconds", "Help.", {"a"}, {1, 2});
  expect_metric_error([&] { registry.gauge("taken", "Help.", {"a"}); }, "'taken'");
  expect_metric_error([&] { registry.gauge("taken", "Help.", {"a"}); }, "counter");
  expect_metric_error([&] { registry.histogram("taken", "Help.", {"a"}); }, "'taken'");
  expect_metric_error([&] { registry.counter("taken", "Help.", {"b"}); }, "label");
  expect_metric_error([&] { registry.counter("taken", "Help.", {"a", "b"}); }, "label");
  expect_metric_error([&] { registry.counter("taken", "Help.", {}); }, "label");
  expect_metric_error(
      [&] {
        registry.histogram("taken_seconds", "Help.", {"a"}, {1, 3});
      },
      "buckets");
  expect_metric_error([&] { registry.histogram("taken_seconds", "Help.", {"a"}); }, "buckets");
  EXPECT_EQ(registry.family_count(), 2u);
}

TEST(ValidationTest, NamesWhoseSamplesWouldClashAreRejected) {
  // In OpenMetrics counter "x_total" is family "x"; a histogram owns _bucket/_sum/_count.
  Registry registry;
  registry.counter("orders_total", "Help.");
  registry.histogram("latency", "Help.", {}, {1});
  registry.gauge("temperature", "Help.");
  expect_metric_error([&] { registry.gauge("orders", "Help."); }, "'orders_total'");
  expect_metric_error([&] { registry.counter("orders", "Help."); }, "'orders_total'");
  expect_metric_error([&] { registry.gauge("orders_created", "Help."); }, "orders");
  expect_metric_error([&] { registry.gauge("latency_count", "Help."); }, "'latency'");
  expect_metric_error([&] { registry.counter("latency_sum", "Help."); }, "'latency'");
  expect_metric_error([&] { registry.counter("temperature_total", "Help."); }, "'temperature'");
  expect_metric_error([&] { registry.histogram("temperature", "Help.", {}, {1}); }, "gauge");
  EXPECT_EQ(registry.family_count(), 3u);
  // Names that merely share a prefix are fine.
  EXPECT_NO_THROW(registry.gauge("orders_in_flight", "Help."));
  EXPECT_NO_THROW(registry.gauge("latency_budget", "Help."));
}

TEST(ValidationTest, SeriesLimitMustBePositive) {
  Registry registry;
  EXPECT_THROW(registry.counter("l_total", "x").set_series_limit(0), MetricError);
  EXPECT_THROW(registry.set_default_series_limit(0), MetricError);
  EXPECT_THROW(registry.add_collector(nullptr), MetricError);
}

}  // namespace
}  // namespace monitoring::metrics
