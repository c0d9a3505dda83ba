// Histogram exemplars: an observation made under an active trace becomes its bucket's
// exemplar in the OpenMetrics exposition (never in text format 0.0.4), latest wins, within the
// OpenMetrics label length limit; and exemplars stay consistent while threads observe during
// scrapes (the ExemplarConcurrencyTest suite also runs under ThreadSanitizer).

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "metrics_test_util.hpp"
#include "monitoring/context.hpp"
#include "monitoring/error.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"
#include "monitoring/sentry/tracing.hpp"

namespace monitoring::metrics {
namespace {

using test::lines_of;
using test::parse_number;

constexpr std::string_view kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kSpan = "00f067aa0ba902b7";
constexpr std::string_view kOtherTrace = "0af7651916cd43dd8448eb211c80319c";
constexpr std::string_view kOtherSpan = "b7ad6b7169203331";

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// One exemplar as written after a bucket's count: ` # {labels} value timestamp`.
struct ParsedExemplar {
  std::map<std::string, std::string> labels;
  double value = 0;
  double timestamp = 0;
};

/// Parses the exemplar part of `line` (after " # "); nullopt when the line has none. Label
/// values in these tests need no unescaping. ADD_FAILURE on a malformed exemplar.
std::optional<ParsedExemplar> exemplar_of(std::string_view line) {
  const std::size_t hash = line.find(" # ");
  if (hash == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(hash + 3);
  ParsedExemplar exemplar;
  const std::size_t close = rest.find("} ");
  if (!rest.starts_with("{") || close == std::string_view::npos) {
    ADD_FAILURE() << "malformed exemplar: " << line;
    return std::nullopt;
  }
  std::string_view labels = rest.substr(1, close - 1);
  while (!labels.empty()) {
    const std::size_t eq = labels.find("=\"");
    const std::size_t end = labels.find('"', eq + 2);
    if (eq == std::string_view::npos || end == std::string_view::npos) {
      ADD_FAILURE() << "malformed exemplar labels: " << line;
      return std::nullopt;
    }
    exemplar.labels.emplace(labels.substr(0, eq), labels.substr(eq + 2, end - eq - 2));
    labels.remove_prefix(end + 1);
    if (labels.starts_with(",")) labels.remove_prefix(1);
  }
  rest.remove_prefix(close + 2);
  const std::size_t space = rest.find(' ');
  const auto value = parse_number(rest.substr(0, space));
  const auto timestamp =
      space == std::string_view::npos ? std::nullopt : parse_number(rest.substr(space + 1));
  if (!value || !timestamp) {
    ADD_FAILURE() << "malformed exemplar value or timestamp: " << line;
    return std::nullopt;
  }
  exemplar.value = *value;
  exemplar.timestamp = *timestamp;
  return exemplar;
}

/// The exemplar of every line of `text` that has one, keyed by the line's series part.
std::map<std::string, ParsedExemplar> exemplars_in(std::string_view text) {
  std::map<std::string, ParsedExemplar> found;
  for (std::string_view line : lines_of(text)) {
    if (auto exemplar = exemplar_of(line))
      found.emplace(std::string(line.substr(0, line.find("} ") + 1)), std::move(*exemplar));
  }
  return found;
}

Histogram& latency(Registry& registry) {
  return registry.histogram("ex_latency_seconds", "Latency.", {"route"}, {0.25, 0.5, 1})
      .labels("/pay");
}

TEST(ExemplarTest, TracedObservationIsAnExemplarOfItsBucketInOpenMetricsOnly) {
  Registry registry;
  Histogram& h = latency(registry);
  h.observe(0.1);  // no trace: counted, no exemplar
  const std::int64_t before = wall_ms();
  {
    auto trace = context::with_trace(kTrace, kSpan);
    h.observe(0.42);
  }
  const std::int64_t after = wall_ms();

  const std::string open_metrics = serialize(registry, ExpositionFormat::kOpenMetrics);
  const auto found = exemplars_in(open_metrics);
  ASSERT_EQ(found.size(), 1u) << open_metrics;
  const auto& [series, exemplar] = *found.begin();
  EXPECT_EQ(series, "ex_latency_seconds_bucket{route=\"/pay\",le=\"0.5\"}");
  EXPECT_EQ(exemplar.labels, (std::map<std::string, std::string>{{"trace_id", std::string(kTrace)},
                                                                 {"span_id", std::string(kSpan)}}));
  EXPECT_EQ(exemplar.value, 0.42);
  // The coarse clock may lag the precise one by a tick (a few milliseconds).
  EXPECT_GE(exemplar.timestamp * 1000, static_cast<double>(before - 50));
  EXPECT_LE(exemplar.timestamp * 1000, static_cast<double>(after + 1));
  // The exact line: the exemplar follows the (cumulative) count.
  EXPECT_NE(open_metrics.find("ex_latency_seconds_bucket{route=\"/pay\",le=\"0.5\"} 2 # "
                              "{trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\""
                              "00f067aa0ba902b7\"} 0.42 "),
            std::string::npos)
      << open_metrics;

  const std::string text = serialize(registry, ExpositionFormat::kText);
  EXPECT_EQ(text.find('#', text.find("ex_latency_seconds_bucket")), std::string::npos) << text;
  EXPECT_EQ(text.find(kTrace), std::string::npos) << text;
}

TEST(ExemplarTest, OnlyTheBucketHitGetsTheExemplar) {
  Registry registry;
  Histogram& h = latency(registry);
  auto trace = context::with_trace(kTrace, kSpan);
  h.observe(0.25);  // == bound: le="0.25"
  h.observe(7);     // above every bound: +Inf
  const auto found = exemplars_in(serialize(registry, ExpositionFormat::kOpenMetrics));
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found.at("ex_latency_seconds_bucket{route=\"/pay\",le=\"0.25\"}").value, 0.25);
  EXPECT_EQ(found.at("ex_latency_seconds_bucket{route=\"/pay\",le=\"+Inf\"}").value, 7);

  const std::vector<Exemplar> exemplars = h.exemplars();
  ASSERT_EQ(exemplars.size(), 4u);  // 3 bounds + Inf
  EXPECT_EQ(exemplars[0].trace_id, kTrace);
  EXPECT_TRUE(exemplars[1].empty());
  EXPECT_TRUE(exemplars[2].empty());
  EXPECT_EQ(exemplars[3].value, 7);
  EXPECT_EQ(exemplars[3].span_id, kSpan);
}

TEST(ExemplarTest, LatestObservationWins) {
  Registry registry;
  Histogram& h = latency(registry);
  {
    auto trace = context::with_trace(kTrace, kSpan);
    h.observe(0.3);
    h.observe(0.9);  // another bucket: keeps this trace
  }
  {
    auto trace = context::with_trace(kOtherTrace, kOtherSpan);
    h.observe(0.4);
  }
  const auto found = exemplars_in(serialize(registry, ExpositionFormat::kOpenMetrics));
  ASSERT_EQ(found.size(), 2u);
  const auto& half = found.at("ex_latency_seconds_bucket{route=\"/pay\",le=\"0.5\"}");
  EXPECT_EQ(half.labels.at("trace_id"), kOtherTrace);
  EXPECT_EQ(half.labels.at("span_id"), kOtherSpan);
  EXPECT_EQ(half.value, 0.4);
  const auto& one = found.at("ex_latency_seconds_bucket{route=\"/pay\",le=\"1.0\"}");
  EXPECT_EQ(one.labels.at("trace_id"), kTrace);
  EXPECT_EQ(one.value, 0.9);
}

TEST(ExemplarTest, NoExemplarWithoutAnActiveTrace) {
  Registry registry;
  Histogram& h = latency(registry);
  h.observe(0.3);
  {
    auto user = context::with_user(42, "ann");  // a context, but no trace
    auto request = context::with_request_id();
    h.observe(0.3);
  }
  {
    auto cleared = context::with_trace("");  // an empty trace id is no trace
    h.observe(0.3);
  }
  { auto trace = context::with_trace(kTrace); }  // ended before the observation
  h.observe(0.3);
  EXPECT_EQ(exemplars_in(serialize(registry, ExpositionFormat::kOpenMetrics)).size(), 0u);
  std::vector<Exemplar> untouched(1);
  EXPECT_FALSE(h.read_exemplars(untouched)) << "no exemplar storage without a trace";
  for (const Exemplar& exemplar : h.exemplars()) EXPECT_TRUE(exemplar.empty());
  EXPECT_EQ(h.snapshot().count(), 4);
}

TEST(ExemplarTest, TraceWithoutSpanHasOnlyTheTraceId) {
  Registry registry;
  Histogram& h = latency(registry);
  auto trace = context::with_trace(kTrace);
  h.observe(0.1);
  const auto found = exemplars_in(serialize(registry, ExpositionFormat::kOpenMetrics));
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found.begin()->second.labels,
            (std::map<std::string, std::string>{{"trace_id", std::string(kTrace)}}));
}

TEST(ExemplarTest, LabelsStayWithinTheOpenMetricsLengthLimit) {
  // Every trace id length around the limit, with a span: what is exposed never exceeds 128
  // code points of label names and values; a span that does not fit is dropped, a trace id
  // that does not fit means no exemplar (a shortened id would point at nothing).
  for (std::size_t size = 1; size <= 130; ++size) {
    SCOPED_TRACE("trace id of " + std::to_string(size) + " characters");
    Registry registry;
    Histogram& h = latency(registry);
    const std::string trace_id(size, 'a');
    {
      auto trace = context::with_trace(trace_id, kSpan);
      h.observe(0.1);
    }
    const auto found = exemplars_in(serialize(registry, ExpositionFormat::kOpenMetrics));
    if (size > kExemplarIdBytes) {
      EXPECT_TRUE(found.empty());
      continue;
    }
    ASSERT_EQ(found.size(), 1u);
    const auto& labels = found.begin()->second.labels;
    EXPECT_EQ(labels.at("trace_id"), trace_id);
    const bool span_fits = size + kSpan.size() <= kExemplarIdBytes;
    EXPECT_EQ(labels.count("span_id"), span_fits ? 1u : 0u);
    std::size_t length = 0;
    for (const auto& [name, value] : labels) length += name.size() + value.size();
    EXPECT_LE(length, kExemplarMaxLabelCodePoints);
  }
}

TEST(ExemplarTest, WriterDropsExemplarsOpenMetricsForbids) {
  // A collector's exemplars: the limit counts code points, not bytes, and an exemplar value
  // must lie within its bucket. A forbidden one is left out; the scrape stays valid.
  std::string out;
  MetricWriter writer(out, ExpositionFormat::kOpenMetrics);
  writer.family("custom_seconds", "Custom.", MetricType::kHistogram);
  const std::vector<double> bounds = {1, 2}, cumulative = {1, 2, 3};
  std::vector<Exemplar> exemplars(3);
  exemplars[0] = {std::string(60, 'x'), std::string(53, 's'), 0.5, 1700000000123};  // 128: ok
  exemplars[1] = {std::string(60, 'y'), std::string(54, 's'), 1.5, 1700000000123};  // 129
  exemplars[2] = {"\xD0\x96" + std::string(119, 'z'), "", 9, 1700000000000};  // 128, 121 bytes
  writer.histogram({}, {}, bounds, cumulative, 11, exemplars);
  const auto found = exemplars_in(out);
  ASSERT_EQ(found.size(), 2u) << out;
  EXPECT_EQ(found.count("custom_seconds_bucket{le=\"1.0\"}"), 1u);
  EXPECT_EQ(found.count("custom_seconds_bucket{le=\"+Inf\"}"), 1u);

  out.clear();
  exemplars = std::vector<Exemplar>(3);
  exemplars[0] = {"t", "", 1.5, 1};  // above le="1"
  exemplars[1] = {"t", "", 2, 1};    // == bound: fine
  writer.histogram({}, {}, bounds, cumulative, 11, exemplars);
  EXPECT_EQ(exemplars_in(out).size(), 1u) << out;
  EXPECT_NE(out.find("custom_seconds_bucket{le=\"2.0\"} 2 # {trace_id=\"t\"} 2 0.001\n"),
            std::string::npos)
      << out;

  exemplars.resize(2);  // not one per bucket
  EXPECT_THROW(writer.histogram({}, {}, bounds, cumulative, 11, exemplars), MetricError);
}

TEST(ExemplarTest, WriterExactSyntaxWithEscaping) {
  std::string out;
  MetricWriter writer(out, ExpositionFormat::kOpenMetrics);
  writer.family("rpc_seconds", "RPC.", MetricType::kHistogram);
  const std::vector<std::string> names = {"m"}, values = {"get"};
  const std::vector<double> bounds = {0.5}, cumulative = {3, 4};
  std::vector<Exemplar> exemplars(2);
  exemplars[0] = {"a\"b\\c", "", 0.42, 1700000000123};
  exemplars[1] = {"abc", "def", 2.5, 1700000000000};
  writer.histogram(names, values, bounds, cumulative, 3.76, exemplars);
  EXPECT_EQ(out,
            "# HELP rpc_seconds RPC.\n# TYPE rpc_seconds histogram\n"
            "rpc_seconds_bucket{m=\"get\",le=\"0.5\"} 3 # {trace_id=\"a\\\"b\\\\c\"} 0.42 "
            "1700000000.123\n"
            "rpc_seconds_bucket{m=\"get\",le=\"+Inf\"} 4 # {trace_id=\"abc\",span_id=\"def\"} 2.5 "
            "1700000000\n"
            "rpc_seconds_sum{m=\"get\"} 3.76\nrpc_seconds_count{m=\"get\"} 4\n");

  std::string text;
  MetricWriter text_writer(text, ExpositionFormat::kText);
  text_writer.family("rpc_seconds", "RPC.", MetricType::kHistogram);
  text_writer.histogram(names, values, bounds, cumulative, 3.76, exemplars);
  EXPECT_EQ(text.find('#', text.find("rpc_seconds_bucket")), std::string::npos) << text;
}

TEST(ExemplarTest, RemovedSeriesComesBackWithoutExemplars) {
  Registry registry;
  auto& family = registry.histogram("ex_removed_seconds", "x", {"k"}, {1});
  {
    auto trace = context::with_trace(kTrace, kSpan);
    family.labels("a").observe(0.5);
  }
  EXPECT_FALSE(family.labels("a").exemplars()[0].empty());
  ASSERT_TRUE(family.remove({"a"}));
  Histogram& revived = family.labels("a");
  for (const Exemplar& exemplar : revived.exemplars()) EXPECT_TRUE(exemplar.empty());
  EXPECT_EQ(exemplars_in(serialize(registry, ExpositionFormat::kOpenMetrics)).size(), 0u);
}

TEST(ExemplarTest, SentryTransactionProvidesTheTrace) {
  // A transaction binds its trace to the thread's context (no Sentry client needed for that).
  Registry registry;
  Histogram& h = latency(registry);
  std::string trace_id, span_id;
  {
    auto transaction = sentry::start_transaction("checkout", "payment");
    trace_id = transaction.trace_id();
    span_id = transaction.span_id();
    h.observe(0.2);
  }
  ASSERT_EQ(trace_id.size(), 32u);
  const std::vector<Exemplar> exemplars = h.exemplars();
  EXPECT_EQ(exemplars[0].trace_id, trace_id);
  EXPECT_EQ(exemplars[0].span_id, span_id);
  EXPECT_EQ(exemplars[0].value, 0.2);
}

// ---- concurrency (also under ThreadSanitizer) -----------------------------------------------

// Writer `thread` uses trace `index` of its own: the ids and the observed value all encode
// (thread, index), so a scrape that mixed two writes would show a mismatch.
std::string concurrency_trace_id(unsigned thread, unsigned index) {
  char id[33];
  std::snprintf(id, sizeof id, "%016x%016x", thread, index);
  return id;
}
std::string concurrency_span_id(unsigned thread, unsigned index) {
  char id[17];
  std::snprintf(id, sizeof id, "%08x%08x", index, thread);
  return id;
}
double concurrency_value(unsigned thread, unsigned index, bool high) {
  return (high ? 1.0 : 0.0) + (thread * 64 + index + 1) / 1024.0;  // within (0, 1] or (1, 2]
}

TEST(ExemplarConcurrencyTest, ObservationsDuringScrapesGiveConsistentExemplars) {
  Registry registry;
  Histogram& h = registry.histogram("ex_concurrent_seconds", "x", {}, {1, 2}).labels();
  constexpr int kWriters = 3;
  constexpr int kTraces = 16;
  constexpr int kMinScrapes = 200;
  // Snapshots built up front: installing one in the loop is a pointer swap, not an allocation.
  std::vector<std::vector<ContextSnapshot>> traces(kWriters);
  for (int t = 0; t < kWriters; ++t)
    for (int i = 0; i < kTraces; ++i) {
      auto scope = context::with_trace(concurrency_trace_id(t, i), concurrency_span_id(t, i));
      traces[t].push_back(context::current());
    }
  std::atomic<int> scrapes{0};
  std::atomic<int> writers_done{0};
  std::barrier start(kWriters + 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (long n = 0; n < 20000 || scrapes.load() < kMinScrapes; ++n) {
        const int index = static_cast<int>(n % kTraces);
        ContextScope scope(traces[t][index]);
        h.observe(concurrency_value(t, index, n % 2 == 1));
      }
      writers_done.fetch_add(1);
    });
  threads.emplace_back([&] {
    start.arrive_and_wait();
    while (writers_done.load() < kWriters) {
      const std::string text = serialize(registry, ExpositionFormat::kOpenMetrics);
      for (const auto& [series, exemplar] : exemplars_in(text)) {
        // EXPECT, not ASSERT: the writers run until this thread has scraped enough.
        const std::string& trace_id = exemplar.labels.at("trace_id");
        unsigned thread = 0, index = 0;
        if (std::sscanf(trace_id.c_str(), "%16x%16x", &thread, &index) != 2 ||
            thread >= unsigned{kWriters} || index >= unsigned{kTraces}) {
          ADD_FAILURE() << "foreign trace id " << trace_id;
          continue;
        }
        EXPECT_EQ(exemplar.labels.at("span_id"), concurrency_span_id(thread, index)) << series;
        const bool high = series == "ex_concurrent_seconds_bucket{le=\"2.0\"}";
        EXPECT_TRUE(high || series == "ex_concurrent_seconds_bucket{le=\"1.0\"}") << series;
        EXPECT_EQ(exemplar.value, concurrency_value(thread, index, high)) << series;
      }
      scrapes.fetch_add(1);
    }
  });
  for (auto& thread : threads) thread.join();
  EXPECT_GE(scrapes.load(), kMinScrapes);
  const std::vector<Exemplar> final_exemplars = h.exemplars();
  EXPECT_FALSE(final_exemplars[0].empty());
  EXPECT_FALSE(final_exemplars[1].empty());
  EXPECT_TRUE(final_exemplars[2].empty());  // nothing above 2
}

TEST(ExemplarConcurrencyTest, FirstTracedObservationsRacingOnAFreshSeries) {
  // Threads make the first traced observation of a series at once: one storage block wins,
  // the others are freed (AddressSanitizer's leak check sees a loser that was not).
  for (int round = 0; round < 20; ++round) {
    Registry registry;
    Histogram& h = registry.histogram("ex_fresh_seconds", "x", {}, {1}).labels();
    constexpr int kThreads = 4;
    std::barrier start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        auto trace = context::with_trace(concurrency_trace_id(t, round));
        start.arrive_and_wait();
        h.observe(0.5);
      });
    for (auto& thread : threads) thread.join();
    const std::vector<Exemplar> exemplars = h.exemplars();
    ASSERT_FALSE(exemplars[0].empty()) << "round " << round;
    EXPECT_EQ(exemplars[0].value, 0.5);
    EXPECT_EQ(h.snapshot().count(), kThreads);
  }
}

}  // namespace
}  // namespace monitoring::metrics
