// Exact output of the text 0.0.4 and OpenMetrics 1.0 writers: HELP/TYPE lines, counter
// naming, histogram buckets, escaping, UTF-8 repair and number formatting.

#include "monitoring/metrics/exposition.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "metrics_test_util.hpp"
#include "monitoring/error.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {
namespace {

using test::lines_of;
using test::sample_value;

constexpr double kInf = std::numeric_limits<double>::infinity();

// A small registry with one family of each type, with values that are exact in binary.
void fill_small_registry(Registry& registry) {
  auto& requests = registry.counter("requests_total", "Requests handled.", {"method", "code"});
  requests.labels("GET", "200").inc(3);
  requests.labels("POST", "500").inc(0.5);
  registry.gauge("temperature_celsius", "Room \"temp\"\\ in C\nsecond line").labels().set(21.5);
  auto& latency = registry.histogram("latency_seconds", "Latency.", {"route"}, {0.25, 1, 2.5});
  Histogram& series = latency.labels("/pay");
  series.observe(0.25);  // == bound -> le="0.25"
  series.observe(1);     // == bound -> le="1"
  series.observe(3);     // +Inf only
}

TEST(ExpositionTest, TextFormatExactOutput) {
  Registry registry;
  fill_small_registry(registry);
  const std::string expected =
      "# HELP requests_total Requests handled.\n"
      "# TYPE requests_total counter\n"
      "requests_total{method=\"GET\",code=\"200\"} 3\n"
      "requests_total{method=\"POST\",code=\"500\"} 0.5\n"
      "# HELP temperature_celsius Room \"temp\"\\\\ in C\\nsecond line\n"
      "# TYPE temperature_celsius gauge\n"
      "temperature_celsius 21.5\n"
      "# HELP latency_seconds Latency.\n"
      "# TYPE latency_seconds histogram\n"
      "latency_seconds_bucket{route=\"/pay\",le=\"0.25\"} 1\n"
      "latency_seconds_bucket{route=\"/pay\",le=\"1\"} 2\n"
      "latency_seconds_bucket{route=\"/pay\",le=\"2.5\"} 2\n"
      "latency_seconds_bucket{route=\"/pay\",le=\"+Inf\"} 3\n"
      "latency_seconds_sum{route=\"/pay\"} 4.25\n"
      "latency_seconds_count{route=\"/pay\"} 3\n";
  EXPECT_EQ(serialize(registry), expected);
  EXPECT_EQ(serialize(registry, ExpositionFormat::kText), expected);
}

TEST(ExpositionTest, OpenMetricsExactOutput) {
  Registry registry;
  fill_small_registry(registry);
  const std::string expected =
      "# HELP requests Requests handled.\n"
      "# TYPE requests counter\n"
      "requests_total{method=\"GET\",code=\"200\"} 3\n"
      "requests_total{method=\"POST\",code=\"500\"} 0.5\n"
      "# HELP temperature_celsius Room \\\"temp\\\"\\\\ in C\\nsecond line\n"
      "# TYPE temperature_celsius gauge\n"
      "temperature_celsius 21.5\n"
      "# HELP latency_seconds Latency.\n"
      "# TYPE latency_seconds histogram\n"
      "latency_seconds_bucket{route=\"/pay\",le=\"0.25\"} 1\n"
      "latency_seconds_bucket{route=\"/pay\",le=\"1.0\"} 2\n"
      "latency_seconds_bucket{route=\"/pay\",le=\"2.5\"} 2\n"
      "latency_seconds_bucket{route=\"/pay\",le=\"+Inf\"} 3\n"
      "latency_seconds_sum{route=\"/pay\"} 4.25\n"
      "latency_seconds_count{route=\"/pay\"} 3\n"
      "# EOF\n";
  EXPECT_EQ(serialize(registry, ExpositionFormat::kOpenMetrics), expected);
}

TEST(ExpositionTest, CounterWithoutTotalSuffixGetsItInOpenMetricsOnly) {
  Registry registry;
  registry.counter("jobs", "Jobs.").labels().inc(2);
  EXPECT_EQ(serialize(registry), "# HELP jobs Jobs.\n# TYPE jobs counter\njobs 2\n");
  EXPECT_EQ(serialize(registry, ExpositionFormat::kOpenMetrics),
            "# HELP jobs Jobs.\n# TYPE jobs counter\njobs_total 2\n# EOF\n");
}

TEST(ExpositionTest, EmptyRegistry) {
  Registry registry;
  EXPECT_EQ(serialize(registry), "");
  EXPECT_EQ(serialize(registry, ExpositionFormat::kOpenMetrics), "# EOF\n");
}

TEST(ExpositionTest, FamilyWithoutSeriesHasOnlyMetadata) {
  Registry registry;
  registry.counter("idle_total", "Idle.", {"k"});
  EXPECT_EQ(serialize(registry), "# HELP idle_total Idle.\n# TYPE idle_total counter\n");
}

TEST(ExpositionTest, HistogramWithoutLabelsAndWithoutObservations) {
  Registry registry;
  registry.histogram("empty_seconds", "Empty.", {}, {1}).labels();
  EXPECT_EQ(serialize(registry),
            "# HELP empty_seconds Empty.\n# TYPE empty_seconds histogram\n"
            "empty_seconds_bucket{le=\"1\"} 0\nempty_seconds_bucket{le=\"+Inf\"} 0\n"
            "empty_seconds_sum 0\nempty_seconds_count 0\n");
}

TEST(ExpositionTest, LabelValuesAreEscapedTheSameInBothFormats) {
  Registry registry;
  auto& family = registry.counter("escape_total", "Escape.", {"v"});
  family.labels("say \"hi\"\\ now\nnext").inc();
  const std::string line = "escape_total{v=\"say \\\"hi\\\"\\\\ now\\nnext\"} 1\n";
  EXPECT_NE(serialize(registry).find(line), std::string::npos) << serialize(registry);
  EXPECT_NE(serialize(registry, ExpositionFormat::kOpenMetrics).find(line), std::string::npos);
}

TEST(ExpositionTest, ValidUtf8PassesThroughUnchanged) {
  Registry registry;
  auto& family = registry.counter("utf8_total", "Ünïcode hélp ✓.", {"v"});
  const std::string value =
      "Привет, 日本, \xF0\x9F\x8E\x89, \xC2\xA9, \xEF\xBF\xBF";  // 2-, 3-, 4-byte forms
  family.labels(value).inc();
  const std::string text = serialize(registry);
  EXPECT_NE(text.find("utf8_total{v=\"" + value + "\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# HELP utf8_total Ünïcode hélp ✓.\n"), std::string::npos) << text;
}

// True when `s` is well-formed UTF-8 (RFC 3629).
bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t n = b < 0x80                 ? 1
                    : b >= 0xC2 && b <= 0xDF ? 2
                    : b >= 0xE0 && b <= 0xEF ? 3
                    : b >= 0xF0 && b <= 0xF4 ? 4
                                             : 0;
    if (n == 0 || i + n > s.size()) return false;
    std::uint32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
    for (std::size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

TEST(ExpositionTest, InvalidUtf8IsReplacedByReplacementCharacter) {
  const std::string kReplacement = "\xEF\xBF\xBD";
  Registry registry;
  auto& family = registry.counter("bad_utf8_total", "Bad \xFF help.", {"v"});
  family
      .labels(
          "a\xFF"
          "b")
      .inc();
  const std::string text = serialize(registry);
  EXPECT_NE(text.find("bad_utf8_total{v=\"a" + kReplacement + "b\"} 1\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("# HELP bad_utf8_total Bad " + kReplacement + " help.\n"), std::string::npos)
      << text;

  // Overlong forms, surrogates, code points past U+10FFFF, stray continuation bytes and
  // truncated sequences (also at the very end) must all come out as valid UTF-8.
  const std::vector<std::string> invalid = {"\xC0\xAF",
                                            "\xE0\x80\xAF",
                                            "\xED\xA0\x80",
                                            "\xF4\x90\x80\x80",
                                            "\x80",
                                            "x\xE2\x82",
                                            "\xF0\x9F\x8E",
                                            "\xC3",
                                            "\xF8\x88\x80\x80\x80",
                                            "ok\xE2\x82\xACok\xE2\x82"};
  for (const std::string& value : invalid) {
    Registry r;
    r.counter("v_total", "V.", {"v"}).labels(value).inc();
    for (ExpositionFormat format : {ExpositionFormat::kText, ExpositionFormat::kOpenMetrics}) {
      const std::string out = serialize(r, format);
      EXPECT_TRUE(is_valid_utf8(out)) << "input bytes of size " << value.size() << ": " << out;
      EXPECT_NE(out.find(kReplacement), std::string::npos) << out;
    }
  }
  // A valid sequence next to an invalid one survives.
  Registry r;
  r.counter("v_total", "V.", {"v"}).labels("ok\xE2\x82\xAC!\xFF").inc();
  EXPECT_NE(serialize(r).find("v=\"ok\xE2\x82\xAC!" + kReplacement + "\""), std::string::npos);
}

// Writes fixed samples, to check number formatting of values gauges cannot hold.
class FixedCollector final : public Collector {
 public:
  explicit FixedCollector(std::vector<std::pair<std::string, double>> samples,
                          MetricType type = MetricType::kGauge, std::string help = "Fixed values.")
      : samples_(std::move(samples)), type_(type), help_(std::move(help)) {}
  void collect(MetricWriter& writer) const override {
    writer.family("fixed_value", help_, type_);
    const std::vector<std::string> names = {"case"};
    for (const auto& [label, value] : samples_) {
      const std::vector<std::string> values = {label};
      writer.sample({}, names, values, value);
    }
  }

 private:
  std::vector<std::pair<std::string, double>> samples_;
  MetricType type_;
  std::string help_;
};

TEST(ExpositionTest, SpecialValuesAreFormattedAsPrometheusExpects) {
  Registry registry;
  registry.add_collector(std::make_shared<FixedCollector>(
      std::vector<std::pair<std::string, double>>{{"nan", std::nan("")},
                                                  {"pos_inf", kInf},
                                                  {"neg_inf", -kInf},
                                                  {"zero", 0.0},
                                                  {"neg_zero", -0.0},
                                                  {"int", 42},
                                                  {"big_int", 9007199254740992.0},
                                                  {"tenth", 0.1},
                                                  {"nano", 1e-9},
                                                  {"mixed", 123456789.123},
                                                  {"huge", 1e300},
                                                  {"negative", -2.5}}));
  for (ExpositionFormat format : {ExpositionFormat::kText, ExpositionFormat::kOpenMetrics}) {
    const std::string text = serialize(registry, format);
    EXPECT_NE(text.find("fixed_value{case=\"nan\"} NaN\n"), std::string::npos) << text;
    EXPECT_NE(text.find("fixed_value{case=\"pos_inf\"} +Inf\n"), std::string::npos) << text;
    EXPECT_NE(text.find("fixed_value{case=\"neg_inf\"} -Inf\n"), std::string::npos) << text;
    EXPECT_NE(text.find("fixed_value{case=\"zero\"} 0\n"), std::string::npos) << text;
    EXPECT_NE(text.find("fixed_value{case=\"neg_zero\"} -0\n"), std::string::npos) << text;
    EXPECT_NE(text.find("fixed_value{case=\"int\"} 42\n"), std::string::npos) << text;
    EXPECT_NE(text.find("fixed_value{case=\"big_int\"} 9007199254740992\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("fixed_value{case=\"tenth\"} 0.1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("fixed_value{case=\"nano\"} 1e-09\n"), std::string::npos) << text;
    EXPECT_NE(text.find("fixed_value{case=\"mixed\"} 123456789.123\n"), std::string::npos) << text;
    EXPECT_NE(text.find("fixed_value{case=\"huge\"} 1e+300\n"), std::string::npos) << text;
    EXPECT_NE(text.find("fixed_value{case=\"negative\"} -2.5\n"), std::string::npos) << text;
  }
}

TEST(ExpositionTest, FloatsAreShortestRoundTrip) {
  std::vector<double> values = {0.1,
                                1e-9,
                                123456789.123,
                                1e300,
                                1.0 / 3.0,
                                2.0 / 3.0,
                                std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::min(),
                                std::numeric_limits<double>::denorm_min(),
                                std::numeric_limits<double>::epsilon(),
                                -1e-300,
                                9007199254740993.0,
                                0.30000000000000004};
  std::mt19937_64 rng(20240501);
  while (values.size() < 2000) {
    const double v = std::bit_cast<double>(rng());
    if (std::isfinite(v)) values.push_back(v);
  }
  std::vector<std::pair<std::string, double>> samples;
  for (std::size_t i = 0; i < values.size(); ++i)
    samples.emplace_back(std::to_string(i), values[i]);
  Registry registry;
  registry.add_collector(std::make_shared<FixedCollector>(samples));
  const std::string text = serialize(registry);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string series = "fixed_value{case=\"" + std::to_string(i) + "\"}";
    const auto line_start = text.find(series + " ");
    ASSERT_NE(line_start, std::string::npos) << series;
    const auto value_start = line_start + series.size() + 1;
    const std::string printed =
        text.substr(value_start, text.find('\n', value_start) - value_start);
    // strtod is the reference parser (what Go's ParseFloat does for these forms too).
    char* end = nullptr;
    const double parsed = std::strtod(printed.c_str(), &end);
    ASSERT_EQ(*end, '\0') << printed;
    EXPECT_EQ(std::bit_cast<std::uint64_t>(parsed), std::bit_cast<std::uint64_t>(values[i]))
        << "printed " << printed << " for value " << i;
    EXPECT_LE(printed.size(), 24u) << printed;  // shortest form, not 17 fixed digits
  }
  EXPECT_EQ(sample_value(text, "fixed_value{case=\"0\"}"), 0.1);
  EXPECT_NE(text.find("fixed_value{case=\"0\"} 0.1\n"), std::string::npos);
}

TEST(ExpositionTest, BucketBoundsFormatting) {
  Registry registry;
  registry.histogram("bounds", "Bounds.", {}, {1e-9, 0.005, 1, 10, 1e6, 123456789.123, 1e21})
      .labels();
  const std::string text = serialize(registry);
  const std::string om = serialize(registry, ExpositionFormat::kOpenMetrics);
  for (const char* le : {"1e-09", "0.005", "1", "10", "1000000", "123456789.123", "1e+21", "+Inf"})
    EXPECT_NE(text.find(std::string("bounds_bucket{le=\"") + le + "\"} 0\n"), std::string::npos)
        << le << "\n"
        << text;
  // OpenMetrics: integral bounds are written as floats so series match across exposers.
  for (const char* le :
       {"1e-09", "0.005", "1.0", "10.0", "1000000.0", "123456789.123", "1e+21", "+Inf"})
    EXPECT_NE(om.find(std::string("bounds_bucket{le=\"") + le + "\"} 0\n"), std::string::npos)
        << le << "\n"
        << om;
}

TEST(ExpositionTest, WholeNumbersAreWrittenAsIntegers) {
  // Counts read better as "1000000" than "1e+06"; both parse to the same double.
  Registry registry;
  registry.counter("big_total", "Big.").labels().inc(std::uint64_t{1000000});
  registry.gauge("negative_big", "Big.").labels().set(-4503599627370496.0);  // -2^52
  const std::string text = serialize(registry);
  EXPECT_NE(text.find("big_total 1000000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("negative_big -4503599627370496\n"), std::string::npos) << text;
}

TEST(ExpositionTest, CollectorWithMismatchedLabelSpansIsAnError) {
  std::string out;
  MetricWriter writer(out, ExpositionFormat::kText);
  writer.family("broken", "Broken.", MetricType::kGauge);
  const std::vector<std::string> names = {"a", "b"}, values = {"only one"};
  EXPECT_THROW(writer.sample({}, names, values, 1), MetricError);
  const std::vector<double> bounds = {1, 2}, too_few = {1, 2};
  EXPECT_THROW(writer.histogram({}, {}, bounds, too_few, 0), MetricError);
}

TEST(ExpositionTest, CollectorsComeAfterFamiliesAndUntypedIsUnknownInOpenMetrics) {
  Registry registry;
  registry.add_collector(std::make_shared<FixedCollector>(
      std::vector<std::pair<std::string, double>>{{"x", 1}}, MetricType::kUntyped, ""));
  registry.gauge("first", "First.").labels().set(1);
  EXPECT_EQ(serialize(registry),
            "# HELP first First.\n# TYPE first gauge\nfirst 1\n"
            "# TYPE fixed_value untyped\nfixed_value{case=\"x\"} 1\n");
  EXPECT_EQ(serialize(registry, ExpositionFormat::kOpenMetrics),
            "# HELP first First.\n# TYPE first gauge\nfirst 1\n"
            "# TYPE fixed_value unknown\nfixed_value{case=\"x\"} 1\n# EOF\n");
}

TEST(ExpositionTest, WriterAppendsToTheCallersString) {
  std::string out = "prefix\n";
  MetricWriter writer(out, ExpositionFormat::kOpenMetrics);
  EXPECT_EQ(writer.format(), ExpositionFormat::kOpenMetrics);
  writer.family("things_total", "Things.", MetricType::kCounter);
  writer.sample({}, {}, {}, 7);
  writer.family("size", "", MetricType::kHistogram);
  const std::vector<std::string> names = {"k"}, values = {"v"};
  const std::vector<double> bounds = {1, 2}, cumulative = {1, 3, 4};
  writer.histogram(names, values, bounds, cumulative, 6.5);
  writer.finish();
  EXPECT_EQ(
      out,
      "prefix\n# HELP things Things.\n# TYPE things counter\nthings_total 7\n"
      "# TYPE size histogram\n"
      "size_bucket{k=\"v\",le=\"1.0\"} 1\nsize_bucket{k=\"v\",le=\"2.0\"} 3\n"
      "size_bucket{k=\"v\",le=\"+Inf\"} 4\nsize_sum{k=\"v\"} 6.5\nsize_count{k=\"v\"} 4\n# EOF\n");
}

TEST(ExpositionTest, RegistrationOrderIsExpositionOrder) {
  Registry registry;
  registry.gauge("zeta", "Z.").labels().set(1);
  registry.gauge("alpha", "A.").labels().set(2);
  const std::string text = serialize(registry);
  EXPECT_LT(text.find("zeta 1"), text.find("alpha 2")) << text;
  EXPECT_EQ(lines_of(text).size(), 6u);
}

}  // namespace
}  // namespace monitoring::metrics
