// Cost of a scrape (target: 100 000 series to text in <= 15 ms, <= 256 B per series):
// serialization time of realistic registries and the heap each series costs, beside baseline
// writers that print the same samples from a plain vector (no registry, no escaping).
//
// Run: build-*/bench/exposition_bench --benchmark_min_time=0.2

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "monitoring/metrics.hpp"

namespace {

using monitoring::metrics::ExpositionFormat;
using monitoring::metrics::Registry;

constexpr std::array<const char*, 4> kMethods = {"GET", "POST", "PUT", "DELETE"};
constexpr std::array<const char*, 5> kStatuses = {"200", "201", "400", "404", "500"};
constexpr int kFamilies = 20;

// One sample as the baselines see it: already summed, no registry in between.
struct FlatSample {
  const std::string* name;
  std::array<std::string, 3> labels;
  double value;
};

// A registry of counters with 3 labels (method, endpoint, status) spread over kFamilies
// families, the same samples as a flat vector, and what the series cost on the heap.
struct CounterFixture {
  Registry registry;
  std::vector<std::string> names;
  std::vector<FlatSample> flat;
  double bytes_per_series = 0;
};

std::size_t heap_in_use() {
  return mallinfo2().uordblks;
}

std::string endpoint(int index) {
  return "/api/v1/items/" + std::to_string(index);
}

CounterFixture& counter_fixture(int series) {
  static std::map<int, std::unique_ptr<CounterFixture>> fixtures;
  auto& slot = fixtures[series];
  if (slot) return *slot;
  slot = std::make_unique<CounterFixture>();
  CounterFixture& f = *slot;
  f.registry.set_default_series_limit(1'000'000);
  for (int family = 0; family < kFamilies; ++family)
    f.names.push_back("app_requests_" + std::to_string(family) + "_total");

  // Label strings are built before the measurement: the caller owns them, the registry copies.
  std::vector<std::array<std::string, 3>> labels;
  labels.reserve(static_cast<std::size_t>(series));
  for (int i = 0; i < series; ++i) {
    const int in_family = i / kFamilies;
    labels.push_back(
        {kMethods[in_family % 4], endpoint(in_family / 20), kStatuses[(in_family / 4) % 5]});
  }
  const std::size_t before = heap_in_use();
  for (int i = 0; i < series; ++i) {
    auto& family =
        f.registry.counter(f.names[i % kFamilies], "Requests by method, endpoint and status.",
                           {"method", "endpoint", "status"});
    const auto& l = labels[static_cast<std::size_t>(i)];
    // Integral counts in even families, fractional amounts (revenue-like) in odd ones.
    family.labels(l[0], l[1], l[2]).inc(i % 2 ? (i % 997) * 0.37 : i % 1000 + 1);
  }
  f.bytes_per_series = static_cast<double>(heap_in_use() - before) / series;

  for (int i = 0; i < series; ++i) {
    const auto& l = labels[static_cast<std::size_t>(i)];
    f.flat.push_back({&f.names[i % kFamilies], l, i % 2 ? (i % 997) * 0.37 : i % 1000 + 1});
  }
  return f;
}

struct HistogramFixture {
  Registry registry;
  double bytes_per_series = 0;
};

HistogramFixture& histogram_fixture(int series) {
  static std::map<int, std::unique_ptr<HistogramFixture>> fixtures;
  auto& slot = fixtures[series];
  if (slot) return *slot;
  slot = std::make_unique<HistogramFixture>();
  HistogramFixture& f = *slot;
  f.registry.set_default_series_limit(1'000'000);
  std::vector<std::array<std::string, 2>> labels;
  for (int i = 0; i < series; ++i) labels.push_back({kMethods[i % 4], endpoint(i / 4)});
  const std::size_t before = heap_in_use();
  auto& family =
      f.registry.histogram("app_request_duration_seconds", "Request duration (11 default buckets).",
                           {"method", "endpoint"});
  for (int i = 0; i < series; ++i) {
    auto& h = family.labels(labels[static_cast<std::size_t>(i)][0],
                            labels[static_cast<std::size_t>(i)][1]);
    for (int k = 0; k < 5; ++k) h.observe(0.003 * (1 + (i + k) % 3000));
  }
  f.bytes_per_series = static_cast<double>(heap_in_use() - before) / series;
  return f;
}

// Times the benchmark loop itself, for a per-series figure next to Google Benchmark's ms.
class LoopClock {
 public:
  LoopClock() : start_(std::chrono::steady_clock::now()) {}
  double ns() const {
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start_)
        .count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

void report(benchmark::State& state, const LoopClock& clock, std::size_t bytes_out, double series,
            double bytes_per_series) {
  state.counters["series"] = series;
  state.counters["output_MB"] = static_cast<double>(bytes_out) / 1e6;
  state.counters["ns_per_series"] = clock.ns() / static_cast<double>(state.iterations()) / series;
  if (bytes_per_series > 0) state.counters["heap_B_per_series"] = bytes_per_series;
}

void BM_Serialize_Counters(benchmark::State& state) {
  const int series = static_cast<int>(state.range(0));
  CounterFixture& f = counter_fixture(series);
  const auto format = state.range(1) ? ExpositionFormat::kOpenMetrics : ExpositionFormat::kText;
  std::size_t bytes = 0;
  const LoopClock clock;
  for (auto _ : state) {
    std::string text = monitoring::metrics::serialize(f.registry, format);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.SetLabel(state.range(1) ? "openmetrics" : "text");
  report(state, clock, bytes, series, f.bytes_per_series);
}
BENCHMARK(BM_Serialize_Counters)
    ->Args({10'000, 0})
    ->Args({100'000, 0})
    ->Args({100'000, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Serialize_Histograms(benchmark::State& state) {
  const int series = static_cast<int>(state.range(0));
  HistogramFixture& f = histogram_fixture(series);
  std::size_t bytes = 0;
  const LoopClock clock;
  for (auto _ : state) {
    std::string text = monitoring::metrics::serialize(f.registry);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  report(state, clock, bytes, series, f.bytes_per_series);
  state.counters["samples"] = series * 14.0;  // 11 buckets + +Inf + _sum + _count
}
BENCHMARK(BM_Serialize_Histograms)->Arg(10'000)->Unit(benchmark::kMillisecond)->UseRealTime();

// Baseline 1: a naive std::ostringstream writer over the flat samples (no escaping, no
// HELP/TYPE, 17 significant digits). What "just print it" costs with iostreams.
void BM_Baseline_NaiveOstream(benchmark::State& state) {
  CounterFixture& f = counter_fixture(static_cast<int>(state.range(0)));
  std::size_t bytes = 0;
  const LoopClock clock;
  for (auto _ : state) {
    std::ostringstream out;
    out << std::setprecision(std::numeric_limits<double>::max_digits10);
    for (const FlatSample& s : f.flat) {
      out << *s.name << "{method=\"" << s.labels[0] << "\",endpoint=\"" << s.labels[1]
          << "\",status=\"" << s.labels[2] << "\"} " << s.value << '\n';
    }
    std::string text = std::move(out).str();
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  report(state, clock, bytes, static_cast<double>(state.range(0)), 0);
}
BENCHMARK(BM_Baseline_NaiveOstream)
    ->Arg(10'000)
    ->Arg(100'000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Baseline 2: one snprintf per sample into a reserved std::string (no escaping, %.17g).
void BM_Baseline_SnprintfLoop(benchmark::State& state) {
  CounterFixture& f = counter_fixture(static_cast<int>(state.range(0)));
  std::size_t bytes = 0;
  const LoopClock clock;
  for (auto _ : state) {
    std::string text;
    text.reserve(f.flat.size() * 96);
    char line[512];
    for (const FlatSample& s : f.flat) {
      const int n = std::snprintf(
          line, sizeof line, "%s{method=\"%s\",endpoint=\"%s\",status=\"%s\"} %.17g\n",
          s.name->c_str(), s.labels[0].c_str(), s.labels[1].c_str(), s.labels[2].c_str(), s.value);
      text.append(line, static_cast<std::size_t>(n));
    }
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  report(state, clock, bytes, static_cast<double>(state.range(0)), 0);
}
BENCHMARK(BM_Baseline_SnprintfLoop)
    ->Arg(10'000)
    ->Arg(100'000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
