// A real Prometheus scrapes our exposition and the values and label values survive exactly.
//
// Two in-process servers expose the same registry: one negotiates like the library's /metrics
// (Prometheus asks for OpenMetrics and gzip), one always answers text format 0.0.4. A
// Prometheus fixture scrapes both every second; the test reads the results back through the
// HTTP API. Another test checks that histogram exemplars (the trace id of an observation made
// under a trace) reach Prometheus' exemplar storage; a last one scrapes the demo service when
// it has been built.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/property_tree/json_parser.hpp>
#include <boost/property_tree/ptree.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "integration/fixture.hpp"
#include "monitoring/context.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"
#include "monitoring/server/http_server.hpp"
#include "net/http_client.hpp"
#include "support/catalog_series.hpp"

namespace monitoring {
namespace {

using boost::property_tree::ptree;
using monitoring::testing::ChildProcess;
using monitoring::testing::eventually;
using monitoring::testing::Fixture;
using monitoring::testing::http_get;
using ::testing::HasSubstr;

/// One element of an instant-vector result: its labels and its value.
struct Series {
  std::map<std::string, std::string> labels;
  double value = 0;
};

/// One exemplar from /api/v1/query_exemplars.
struct ExemplarResult {
  std::map<std::string, std::string> series_labels;  ///< of the bucket series it belongs to
  std::map<std::string, std::string> labels;         ///< the exemplar's own (trace_id, ...)
  double value = 0;
  double timestamp = 0;  ///< Unix seconds
};

/// Minimal client of Prometheus' HTTP API (/api/v1/query), JSON decoded with Boost.PropertyTree
/// (which turns \uXXXX escapes, surrogate pairs included, into UTF-8).
class PrometheusApi {
 public:
  explicit PrometheusApi(std::string base_url) : base_url_(std::move(base_url)) {}

  std::vector<Series> query(const std::string& promql) const {
    auto response = http_get(base_url_ + "/api/v1/query?query=" + common::percent_encode(promql));
    if (response.status != 200)
      throw std::runtime_error("query '" + promql + "' answered " +
                               std::to_string(response.status) + ": " + response.body);
    std::istringstream stream(response.body);
    ptree root;
    boost::property_tree::read_json(stream, root);
    if (root.get<std::string>("status") != "success")
      throw std::runtime_error("query '" + promql + "' failed: " + response.body);
    if (root.get<std::string>("data.resultType") != "vector")
      throw std::runtime_error("query '" + promql + "' did not return a vector: " + response.body);
    std::vector<Series> result;
    for (const auto& [unused_key, element] : root.get_child("data.result")) {
      Series series;
      for (const auto& [name, value] : element.get_child("metric"))
        series.labels.emplace(name, value.get_value<std::string>());
      // "value": [<unix time>, "<sample value as string>"]
      const ptree& pair = element.get_child("value");
      auto it = pair.begin();
      ++it;
      series.value = parse_value(it->second.get_value<std::string>());
      result.push_back(std::move(series));
    }
    return result;
  }

  /// /api/v1/query_exemplars over [now - 10 min, now + 1 min] (needs Prometheus started with
  /// --enable-feature=exemplar-storage): one entry per exemplar, its series' labels merged in.
  std::vector<ExemplarResult> query_exemplars(const std::string& promql) const {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    auto response =
        http_get(base_url_ + "/api/v1/query_exemplars?query=" + common::percent_encode(promql) +
                 "&start=" + std::to_string(now - 600) + "&end=" + std::to_string(now + 60));
    if (response.status != 200)
      throw std::runtime_error("query_exemplars '" + promql + "' answered " +
                               std::to_string(response.status) + ": " + response.body);
    std::istringstream stream(response.body);
    ptree root;
    boost::property_tree::read_json(stream, root);
    if (root.get<std::string>("status") != "success")
      throw std::runtime_error("query_exemplars '" + promql + "' failed: " + response.body);
    std::vector<ExemplarResult> result;
    // "data": [{"seriesLabels": {...}, "exemplars": [{"labels": {...}, "value", "timestamp"}]}]
    for (const auto& [unused_key, series] : root.get_child("data")) {
      for (const auto& [unused_index, exemplar] : series.get_child("exemplars")) {
        ExemplarResult entry;
        for (const auto& [name, value] : series.get_child("seriesLabels"))
          entry.series_labels.emplace(name, value.get_value<std::string>());
        for (const auto& [name, value] : exemplar.get_child("labels"))
          entry.labels.emplace(name, value.get_value<std::string>());
        entry.value = parse_value(exemplar.get<std::string>("value"));
        entry.timestamp = std::strtod(exemplar.get<std::string>("timestamp").c_str(), nullptr);
        result.push_back(std::move(entry));
      }
    }
    return result;
  }

  /// The single value of `promql`, or nullopt when the result is empty.
  std::optional<double> scalar(const std::string& promql) const {
    auto result = query(promql);
    if (result.empty()) return std::nullopt;
    if (result.size() != 1)
      throw std::runtime_error("query '" + promql + "' returned " + std::to_string(result.size()) +
                               " series");
    return result.front().value;
  }

 private:
  static double parse_value(const std::string& text) {
    if (text == "+Inf") return INFINITY;
    if (text == "-Inf") return -INFINITY;
    if (text == "NaN") return NAN;
    // strtod, not stod: stod throws for subnormal values such as 5e-324 (ERANGE).
    return std::strtod(text.c_str(), nullptr);
  }

  std::string base_url_;
};

/// Serves a registry on 127.0.0.1:<ephemeral>/metrics, either negotiating format and gzip
/// from the scraper's headers, or always in text format.
class RegistryServer {
 public:
  RegistryServer(const metrics::Registry& registry, bool negotiate) : server_(loopback_options()) {
    server_.route("/metrics", [this, &registry, negotiate](const server::Request& request) {
      server::Response response;
      metrics::ExpositionFormat format = metrics::ExpositionFormat::kText;
      bool gzip = false;
      if (negotiate) {
        format = metrics::negotiate_format(request.header("Accept"));
        gzip = metrics::accepts_gzip(request.header("Accept-Encoding"));
      }
      {
        std::lock_guard lock(mutex_);
        accept_seen_ = std::string(request.header("Accept"));
        formats_served_.insert(std::string(metrics::content_type(format)));
        ++scrapes_;
      }
      response.content_type = std::string(metrics::content_type(format));
      response.body = metrics::serialize(registry, format);
      if (gzip) {
        response.body = metrics::gzip_compress(response.body);
        response.headers.emplace_back("Content-Encoding", "gzip");
      }
      return response;
    });
    server_.start();
  }

  static server::HttpServerOptions loopback_options() {
    server::HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    return options;
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(server_.port()); }
  std::string accept_seen() const {
    std::lock_guard lock(mutex_);
    return accept_seen_;
  }
  std::set<std::string> formats_served() const {
    std::lock_guard lock(mutex_);
    return formats_served_;
  }
  int scrapes() const {
    std::lock_guard lock(mutex_);
    return scrapes_;
  }

 private:
  mutable std::mutex mutex_;
  std::string accept_seen_;
  std::set<std::string> formats_served_;
  int scrapes_ = 0;
  server::HttpServer server_;  // last: stopped first, before the members its handler uses
};

const std::string kQuoted = "say \"hi\"";
const std::string kBackslash = R"(C:\dir\file)";
const std::string kNewline = "first\nsecond";
const std::string kUtf8 = "Привет, мир ✓ 😀";
const std::string kEverything = "a\\b\"c\nd ✓ {x=\"y\"},#";

class PrometheusScrapeTest : public ::testing::Test {
 protected:
  PrometheusScrapeTest() {
    auto& events = registry_.counter("scrape_events_total", "Events, by kind.", {"kind"});
    events.labels("plain").inc(3);
    events.labels(kQuoted).inc(7.25);
    events.labels(kBackslash).inc(1234567.5);
    events.labels(kNewline).inc(0.1);  // needs the shortest round-trip representation
    events.labels(kUtf8).inc(1e15);
    events.labels(kEverything).inc(42);

    registry_.gauge("scrape_temperature_celsius", "A gauge.").labels().set(-12.375);
    auto& ratios = registry_.gauge("scrape_ratio", "Non-terminating binary fractions.", {"which"});
    ratios.labels("third").set(1.0 / 3.0);
    ratios.labels("tiny").set(5e-324);
    ratios.labels("huge").set(1.7976931348623157e308);

    auto& latency = registry_.histogram("scrape_latency_seconds", "A histogram.", {"route"},
                                        {0.005, 0.1, 0.5, 2.5});
    for (double v : {0.001, 0.05, 0.05, 0.3, 1.0, 7.0}) latency.labels("/pay").observe(v);

    // The types Python's prometheus_client has too: info, enum (state set), callback gauge.
    registry_.info("scrape_build", "Build facts.")
        .set({{"version", "1.2.0"}, {"odd", kEverything}});
    registry_.state_set("scrape_state", "An enum.", {"idle", "running", kUtf8}).set("running");
    auto& queue = registry_.callback_gauge("scrape_queue_depth", "Read at scrape time.", {"queue"});
    queue.bind({"mail"}, [] { return 3.0; });
    queue.bind({"broken"}, []() -> double { throw std::runtime_error("queue gone"); });
  }

  metrics::Registry registry_;
};

TEST_F(PrometheusScrapeTest, ValuesAndLabelValuesSurviveExactly) {
  RegistryServer negotiated(registry_, /*negotiate=*/true);
  RegistryServer text_only(registry_, /*negotiate=*/false);
  Fixture prometheus("prometheus.sh", negotiated.address() + "," + text_only.address(), "1s");
  PrometheusApi api(prometheus.value("URL"));

  // Both targets up (a parse failure of either format would make it 0).
  ASSERT_TRUE(eventually([&] { return api.query("up == 1").size() == 2; }, std::chrono::seconds(30),
                         std::chrono::milliseconds(200)))
      << "targets not up; Prometheus sent Accept: " << negotiated.accept_seen();
  for (const auto& series : api.query("up")) {
    EXPECT_EQ(series.labels.at("job"), "2getpro_bot");
    EXPECT_EQ(series.value, 1);
  }
  // Prometheus preferred OpenMetrics, and the negotiating server gave it that.
  EXPECT_THAT(negotiated.accept_seen(), HasSubstr("application/openmetrics-text"));
  EXPECT_EQ(negotiated.formats_served(), std::set<std::string>{std::string(metrics::content_type(
                                             metrics::ExpositionFormat::kOpenMetrics))});

  for (const auto& target : {negotiated.address(), text_only.address()}) {
    SCOPED_TRACE("target " + target);
    const std::string instance = "instance=\"" + target + "\"";
    ASSERT_TRUE(
        eventually([&] { return api.query("scrape_events_total{" + instance + "}").size() == 6; },
                   std::chrono::seconds(30), std::chrono::milliseconds(200)))
        << "series missing for " << target;

    std::map<std::string, double> by_kind;
    for (const auto& series : api.query("scrape_events_total{" + instance + "}")) {
      EXPECT_EQ(series.labels.at("__name__"), "scrape_events_total");
      by_kind[series.labels.at("kind")] = series.value;
    }
    const std::map<std::string, double> expected{
        {"plain", 3},    {kQuoted, 7.25}, {kBackslash, 1234567.5},
        {kNewline, 0.1}, {kUtf8, 1e15},   {kEverything, 42}};
    EXPECT_EQ(by_kind, expected);

    EXPECT_EQ(api.scalar("scrape_temperature_celsius{" + instance + "}"), -12.375);
    EXPECT_EQ(api.scalar("scrape_ratio{which=\"third\"," + instance + "}"), 1.0 / 3.0);
    EXPECT_EQ(api.scalar("scrape_ratio{which=\"tiny\"," + instance + "}"), 5e-324);
    EXPECT_EQ(api.scalar("scrape_ratio{which=\"huge\"," + instance + "}"), 1.7976931348623157e308);

    std::map<double, double> buckets;
    for (const auto& series :
         api.query("scrape_latency_seconds_bucket{route=\"/pay\"," + instance + "}"))
      buckets[series.labels.at("le") == "+Inf"
                  ? INFINITY
                  : std::strtod(series.labels.at("le").c_str(), nullptr)] = series.value;
    const std::map<double, double> expected_buckets{
        {0.005, 1}, {0.1, 3}, {0.5, 4}, {2.5, 5}, {INFINITY, 6}};
    EXPECT_EQ(buckets, expected_buckets);
    EXPECT_EQ(api.scalar("scrape_latency_seconds_count{" + instance + "}"), 6);
    EXPECT_EQ(api.scalar("scrape_latency_seconds_sum{" + instance + "}"),
              0.001 + 0.05 + 0.05 + 0.3 + 1.0 + 7.0);
  }

  // Matching on an escaped label value works in PromQL too (the value round-tripped intact).
  EXPECT_EQ(api.query("scrape_events_total{kind=\"say \\\"hi\\\"\"}").size(), 2u);
  EXPECT_EQ(api.query("scrape_events_total{kind=\"first\\nsecond\"}").size(), 2u);
  EXPECT_EQ(api.query("scrape_events_total{kind=\"C:\\\\dir\\\\file\"}").size(), 2u);
}

TEST_F(PrometheusScrapeTest, InfoStateSetAndCallbackGaugeAreIngestedFromBothFormats) {
  RegistryServer negotiated(registry_, /*negotiate=*/true);
  RegistryServer text_only(registry_, /*negotiate=*/false);
  Fixture prometheus("prometheus.sh", negotiated.address() + "," + text_only.address(), "1s");
  PrometheusApi api(prometheus.value("URL"));
  ASSERT_TRUE(eventually([&] { return api.query("up == 1").size() == 2; }, std::chrono::seconds(30),
                         std::chrono::milliseconds(200)))
      << "targets not up; Prometheus sent Accept: " << negotiated.accept_seen();
  for (const auto& target : {negotiated.address(), text_only.address()}) {
    SCOPED_TRACE("target " + target);
    const std::string instance = "instance=\"" + target + "\"";
    ASSERT_TRUE(
        eventually([&] { return api.query("scrape_build_info{" + instance + "}").size() == 1; },
                   std::chrono::seconds(30), std::chrono::milliseconds(200)));
    const auto info = api.query("scrape_build_info{" + instance + "}").at(0);
    EXPECT_EQ(info.value, 1);
    EXPECT_EQ(info.labels.at("version"), "1.2.0");
    EXPECT_EQ(info.labels.at("odd"), kEverything);

    std::map<std::string, double> states;
    for (const auto& series : api.query("scrape_state{" + instance + "}"))
      states[series.labels.at("scrape_state")] = series.value;
    EXPECT_EQ(states, (std::map<std::string, double>{{"idle", 0}, {"running", 1}, {kUtf8, 0}}));

    EXPECT_EQ(api.scalar("scrape_queue_depth{queue=\"mail\"," + instance + "}"), 3);
    EXPECT_TRUE(api.query("scrape_queue_depth{queue=\"broken\"," + instance + "}").empty());
  }
}

TEST_F(PrometheusScrapeTest, MetadataReachesPrometheus) {
  RegistryServer text_only(registry_, /*negotiate=*/false);
  Fixture prometheus("prometheus.sh", text_only.address(), "1s");
  ASSERT_TRUE(eventually(
      [&] {
        auto response = http_get(prometheus.value("URL") +
                                 "/api/v1/targets/metadata?metric=scrape_latency_seconds");
        return response.status == 200 &&
               response.body.find("\"type\":\"histogram\"") != std::string::npos;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(200)))
      << "no histogram metadata for scrape_latency_seconds";
  auto response =
      http_get(prometheus.value("URL") + "/api/v1/targets/metadata?metric=scrape_events_total");
  EXPECT_THAT(response.body, HasSubstr("\"type\":\"counter\""));
  EXPECT_THAT(response.body, HasSubstr("\"help\":\"Events, by kind.\""));
}

TEST(PrometheusExemplars, TracedObservationReachesExemplarStorage) {
  // An observation made under an active trace: Prometheus (exemplar storage on) scrapes the
  // OpenMetrics exposition and serves the trace id back from /api/v1/query_exemplars.
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string span_id = "00f067aa0ba902b7";
  metrics::Registry registry;
  auto& latency =
      registry.histogram("exemplar_latency_seconds", "Traced latency.", {"route"}, {0.1, 0.5, 1});
  latency.labels("/pay").observe(0.05);  // no trace: no exemplar for le="0.1"
  const double before =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  {
    auto trace = context::with_trace(trace_id, span_id);
    latency.labels("/pay").observe(0.42);
  }
  RegistryServer negotiated(registry, /*negotiate=*/true);
  Fixture prometheus("prometheus.sh", "--enable-feature=exemplar-storage", negotiated.address(),
                     "1s");
  PrometheusApi api(prometheus.value("URL"));

  std::vector<ExemplarResult> exemplars;
  ASSERT_TRUE(eventually(
      [&] {
        exemplars = api.query_exemplars("exemplar_latency_seconds_bucket");
        return !exemplars.empty();
      },
      std::chrono::seconds(30), std::chrono::milliseconds(200)))
      << "no exemplar reached Prometheus; it was sent Accept: " << negotiated.accept_seen();
  ASSERT_EQ(exemplars.size(), 1u);
  const ExemplarResult& exemplar = exemplars.front();
  EXPECT_EQ(exemplar.series_labels.at("__name__"), "exemplar_latency_seconds_bucket");
  EXPECT_EQ(exemplar.series_labels.at("route"), "/pay");
  EXPECT_EQ(exemplar.series_labels.at("le"), "0.5");
  EXPECT_EQ(exemplar.labels,
            (std::map<std::string, std::string>{{"trace_id", trace_id}, {"span_id", span_id}}));
  EXPECT_EQ(exemplar.value, 0.42);
  EXPECT_NEAR(exemplar.timestamp, before, 1.0);  // the observation's time, not the scrape's
  // The samples themselves are intact next to the exemplar.
  EXPECT_EQ(api.scalar("exemplar_latency_seconds_count"), 2);
}

TEST(DemoServiceScrape, CatalogMetricsHaveData) {
  const std::filesystem::path demo =
      monitoring::testing::binary_dir() / "examples" / "monitoring-demo";
#ifdef MONITORING_TEST_EXPECT_DEMO
  ASSERT_TRUE(std::filesystem::exists(demo)) << "demo not built: " << demo;
#else
  if (!std::filesystem::exists(demo)) GTEST_SKIP() << "built without examples: " << demo;
#endif

  const std::filesystem::path work_dir = std::filesystem::temp_directory_path() /
                                         ("monitoring-demo-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(work_dir);
  const int port = monitoring::testing::pick_free_port();
  {
    ChildProcess service(
        {demo.string()},
        {"MONITORING_HOST=127.0.0.1", "MONITORING_PORT=" + std::to_string(port),
         "ENABLE_MONITORING_SERVER=true", "LOG_DIR=" + (work_dir / "logs").string(), "SENTRY_DSN=",
         "SENTRY_CACHE_DIR=" + (work_dir / "sentry").string(), "DEMO_SPEED=20", "DEMO_SEED=11"},
        (work_dir / "demo.log").string());
    const std::string metrics_url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";
    ASSERT_TRUE(eventually(
        [&] {
          if (!service.running()) return true;  // reported below
          try {
            return http_get(metrics_url, std::chrono::seconds(2)).status == 200;
          } catch (const Error&) {
            return false;
          }
        },
        std::chrono::seconds(30), std::chrono::milliseconds(200)))
        << "demo never served " << metrics_url;
    ASSERT_TRUE(service.running()) << "demo exited; see " << (work_dir / "demo.log");

    Fixture prometheus("prometheus.sh", "127.0.0.1:" + std::to_string(port), "1s");
    PrometheusApi api(prometheus.value("URL"));
    ASSERT_TRUE(eventually([&] { return api.scalar("up") == 1.0; }, std::chrono::seconds(30),
                           std::chrono::milliseconds(200)));

    // Every catalog family reaches Prometheus with data.
    std::vector<std::string> catalog = monitoring::testing::catalog_series();
    catalog.push_back("process_resident_memory_bytes");
    for (const auto& name : catalog)
      EXPECT_TRUE(eventually([&] { return !api.query(name).empty(); }, std::chrono::seconds(30),
                             std::chrono::milliseconds(200)))
          << name << " never reached Prometheus";

    // Values are right: a counter Prometheus scraped can only be at or below what the demo
    // reports afterwards, and at or above what it reported before that scrape.
    const std::string before = http_get(metrics_url).body;
    const double asked_at =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    // At least one more scrape of every target: Prometheus stamps `up` with each scrape's start.
    ASSERT_TRUE(eventually(
        [&] {
          const auto scraped_at = api.scalar("min(timestamp(up))");
          return scraped_at && *scraped_at > asked_at;
        },
        std::chrono::seconds(30), std::chrono::milliseconds(200)));
    const auto scraped = api.query("payment_requests_total");
    const std::string after = http_get(metrics_url).body;
    ASSERT_FALSE(scraped.empty());
    auto direct_value = [](const std::string& exposition, const std::string& system) {
      const std::string prefix = "payment_requests_total{payment_system=\"" + system + "\"} ";
      const auto at = exposition.find(prefix);
      if (at == std::string::npos) return -1.0;
      return std::stod(exposition.substr(at + prefix.size()));
    };
    for (const auto& series : scraped) {
      const std::string system = series.labels.at("payment_system");
      EXPECT_LE(direct_value(before, system), series.value) << system;
      EXPECT_LE(series.value, direct_value(after, system)) << system;
      EXPECT_GT(series.value, 0) << system;
    }
    // Histogram consistency survives the scrape: +Inf bucket equals _count.
    const auto inf_bucket =
        api.query("sum(payment_processing_duration_seconds_bucket{le=\"+Inf\"})");
    const auto count = api.query("sum(payment_processing_duration_seconds_count)");
    ASSERT_EQ(inf_bucket.size(), 1u);
    ASSERT_EQ(count.size(), 1u);
    EXPECT_EQ(inf_bucket.front().value, count.front().value);
    EXPECT_TRUE(service.running());
  }
  std::filesystem::remove_all(work_dir);
}

}  // namespace
}  // namespace monitoring
