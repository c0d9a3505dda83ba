// How the cost of counters grows when a service grows: threads x series.
//
//   Scaling/<impl>/threads:T/series:S   T threads each increment every one of S labeled counter
//                                       series once; reports the memory the series take
//                                       (B/series), the memory the threads add (MB, and KB per
//                                       thread) and the time of one text scrape (the benchmark's
//                                       time, manual).
//   ThreadChurn/<impl>                  10 000 short-lived threads (8 at a time) each increment
//                                       100 series once; checks the totals, reports us/thread and
//                                       the memory left behind after they exited.
//   WriteLatency/<impl>/<op>/scrape:N   one writer times each bound or labeled increment over a
//                                       100 000-series family (rdtsc), while another thread
//                                       scrapes in a loop, 1 ms apart (N=1) or not (N=0):
//                                       p50/p99/p99.9 ns over 2 M calls or 10 s.
//
// <impl> is `cells` (this library: per-CPU cells, detail/cells.hpp) or `shared_atomic`, the
// same-run baseline: one shared atomic per series behind a mutex-guarded map, scraped under
// that mutex, which is the design of prometheus-cpp. Every configuration runs in a forked
// child, so the memory figures start from a clean heap and cannot reuse an earlier
// configuration's cells.
//
// MONITORING_SCALING_MAX_SERIES caps the series counts (CI's smoke run sets it low).

#include <benchmark/benchmark.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "monitoring/metrics/detail/cells.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"
#include "support/tsc_clock.hpp"

namespace {

using monitoring::metrics::Counter;
using monitoring::metrics::Registry;

std::size_t heap_bytes() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// --- The baseline: a shared atomic per series (prometheus-cpp's design) ---------------------

class SharedAtomicFamily {
 public:
  explicit SharedAtomicFamily(std::string name) : name_(std::move(name)) {}

  std::atomic<double>& labels(const std::string& value) {
    std::lock_guard lock(mutex_);
    auto& slot = series_[value];
    if (!slot) slot = std::make_unique<std::atomic<double>>(0.0);
    return *slot;
  }
  static void inc(std::atomic<double>& cell) {
    double seen = cell.load(std::memory_order_relaxed);
    while (!cell.compare_exchange_weak(seen, seen + 1.0, std::memory_order_relaxed)) {
    }
  }
  void scrape(std::string& out) const {
    std::lock_guard lock(mutex_);
    out += "# HELP ";
    out += name_;
    out += " x\n# TYPE ";
    out += name_;
    out += " counter\n";
    char number[32];
    for (const auto& [value, cell] : series_) {
      out += name_;
      out += "{series=\"";
      out += value;
      out += "\"} ";
      const auto result = std::to_chars(number, number + sizeof number, cell->load());
      out.append(number, result.ptr);
      out += '\n';
    }
  }

 private:
  std::string name_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<std::atomic<double>>> series_;
};

// --- Running a measurement in a child ---------------------------------------------------------

constexpr int kFields = 8;
struct Result {
  double values[kFields] = {};
  bool ok = true;
};

// Runs `body` in a forked child and returns what it wrote.
template <class Body>
Result in_child(Body body) {
  int fds[2];
  if (pipe(fds) != 0) return {{}, false};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    Result result = body();
    const ssize_t written = write(fds[1], &result, sizeof result);
    _exit(written == static_cast<ssize_t>(sizeof result) ? 0 : 1);
  }
  close(fds[1]);
  Result result;
  const ssize_t got = read(fds[0], &result, sizeof result);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (got != static_cast<ssize_t>(sizeof result) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    result.ok = false;
  return result;
}

std::vector<std::string> label_values(std::size_t series) {
  std::vector<std::string> values;
  values.reserve(series);
  for (std::size_t i = 0; i < series; ++i) values.push_back(std::to_string(i));
  return values;
}

template <class Body>
void run_threads(int threads, Body body) {
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) workers.emplace_back(body);
  for (auto& worker : workers) worker.join();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// --- Scaling ------------------------------------------------------------------------------

Result scaling_cells(int threads, std::size_t series) {
  const auto values = label_values(series);
  const std::size_t start = heap_bytes();
  auto registry = std::make_unique<Registry>();
  registry->set_default_series_limit(series + 1);
  auto& family = registry->counter("scaling_total", "x", {"series"});
  std::vector<Counter*> cells;
  cells.reserve(series);
  for (const auto& value : values) cells.push_back(&family.labels(value));
  const std::size_t with_series = heap_bytes();
  run_threads(threads, [&] {
    for (Counter* counter : cells) counter->inc();
  });
  const std::size_t with_threads = heap_bytes();
  std::vector<double> scrapes;
  for (int i = 0; i < 5; ++i) {
    const auto begin = std::chrono::steady_clock::now();
    const std::string text = monitoring::metrics::serialize(*registry);
    scrapes.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count());
    benchmark::DoNotOptimize(text.data());
  }
  Result result;
  result.values[0] = double(with_series - start) / double(series);
  result.values[1] = double(with_threads - with_series);
  result.values[2] = median(scrapes);
  result.values[3] = monitoring::metrics::detail::CellSpace::rows_in_use();
  result.ok = cells.back()->value() == threads;
  return result;
}

Result scaling_shared_atomic(int threads, std::size_t series) {
  const auto values = label_values(series);
  const std::size_t start = heap_bytes();
  auto family = std::make_unique<SharedAtomicFamily>("scaling_total");
  std::vector<std::atomic<double>*> cells;
  cells.reserve(series);
  for (const auto& value : values) cells.push_back(&family->labels(value));
  const std::size_t with_series = heap_bytes();
  run_threads(threads, [&] {
    for (auto* cell : cells) SharedAtomicFamily::inc(*cell);
  });
  const std::size_t with_threads = heap_bytes();
  std::vector<double> scrapes;
  for (int i = 0; i < 5; ++i) {
    const auto begin = std::chrono::steady_clock::now();
    std::string text;
    family->scrape(text);
    scrapes.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count());
    benchmark::DoNotOptimize(text.data());
  }
  Result result;
  result.values[0] = double(with_series - start) / double(series);
  result.values[1] = double(with_threads - with_series);
  result.values[2] = median(scrapes);
  result.ok = cells.back()->load() == threads;
  return result;
}

void report_scaling(benchmark::State& state, const Result& result, int threads) {
  if (!result.ok) {
    state.SkipWithError("lost increments or the child failed");
    return;
  }
  for (auto _ : state) state.SetIterationTime(result.values[2]);
  state.counters["B_per_series"] = result.values[0];
  state.counters["threads_MB"] = result.values[1] / 1e6;
  state.counters["KB_per_thread"] = result.values[1] / 1e3 / threads;
  state.counters["scrape_ms"] = result.values[2] * 1e3;
  if (result.values[3] > 0) state.counters["rows"] = result.values[3];
}

void BM_Scaling_cells(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const auto series = static_cast<std::size_t>(state.range(1));
  report_scaling(state, in_child([&] { return scaling_cells(threads, series); }), threads);
}

void BM_Scaling_shared_atomic(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const auto series = static_cast<std::size_t>(state.range(1));
  report_scaling(state, in_child([&] { return scaling_shared_atomic(threads, series); }), threads);
}

// --- Thread churn ---------------------------------------------------------------------------

constexpr int kChurnThreads = 10000;
constexpr int kChurnSeries = 100;

template <class Inc>
Result churn(Inc inc_all, std::function<bool()> exact) {
  const std::size_t start = heap_bytes();
  const auto begin = std::chrono::steady_clock::now();
  for (int t = 0; t < kChurnThreads; t += 8) run_threads(8, inc_all);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  Result result;
  result.values[0] = seconds / kChurnThreads;
  result.values[1] = double(heap_bytes()) - double(start);
  result.ok = exact();
  return result;
}

void report_churn(benchmark::State& state, const Result& result) {
  if (!result.ok) {
    state.SkipWithError("lost increments or the child failed");
    return;
  }
  for (auto _ : state) state.SetIterationTime(result.values[0]);
  state.counters["us_per_thread"] = result.values[0] * 1e6;
  state.counters["KB_left"] = result.values[1] / 1e3;
}

void BM_ThreadChurn_cells(benchmark::State& state) {
  report_churn(state, in_child([] {
                 Registry registry;
                 auto& family = registry.counter("churn_total", "x", {"series"});
                 std::vector<Counter*> cells;
                 for (const auto& value : label_values(kChurnSeries))
                   cells.push_back(&family.labels(value));
                 auto inc_all = [&] {
                   for (Counter* counter : cells) counter->inc();
                 };
                 inc_all();  // the series' cells exist before the baseline heap reading
                 return churn(inc_all, [&] {
                   return std::all_of(cells.begin(), cells.end(), [](Counter* counter) {
                     return counter->value() == kChurnThreads + 1;
                   });
                 });
               }));
}

void BM_ThreadChurn_shared_atomic(benchmark::State& state) {
  report_churn(state, in_child([] {
                 SharedAtomicFamily family("churn_total");
                 std::vector<std::atomic<double>*> cells;
                 for (const auto& value : label_values(kChurnSeries))
                   cells.push_back(&family.labels(value));
                 auto inc_all = [&] {
                   for (auto* cell : cells) SharedAtomicFamily::inc(*cell);
                 };
                 inc_all();
                 return churn(inc_all, [&] {
                   return std::all_of(cells.begin(), cells.end(),
                                      [](auto* cell) { return cell->load() == kChurnThreads + 1; });
                 });
               }));
}

// --- Write latency while another thread scrapes ----------------------------------------------

constexpr std::size_t kLatencySeries = 100000;
constexpr int kLatencyOps = 2000000;

using bench::ns_per_tick;

// Times `op(i)` one call at a time; another thread runs `scrape` in a loop meanwhile if asked.
template <class Op, class Scrape>
Result time_ops(Op op, Scrape scrape, bool scraping) {
  std::atomic<bool> stop{false};
  std::atomic<long> scrapes{0};
  std::thread scraper;
  if (scraping)
    scraper = std::thread([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        scrape();
        scrapes.fetch_add(1, std::memory_order_relaxed);
        // Back to back, a scrape that holds a mutex (the baseline's) would starve a writer
        // waiting for it: glibc's mutex is not fair. 1 ms apart is still ~100 scrapes/s.
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  // At most kLatencyOps calls or 10 s, whichever comes first, so a starved writer cannot
  // hang the run.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::vector<std::uint32_t> ticks;
  ticks.reserve(kLatencyOps);
  for (int i = 0; i < kLatencyOps; ++i) {
    const std::uint64_t begin = bench::ticks();
    op(i);
    ticks.push_back(static_cast<std::uint32_t>(bench::ticks() - begin));
    if ((i & 1023) == 0 && std::chrono::steady_clock::now() > deadline) break;
  }
  stop = true;
  if (scraper.joinable()) scraper.join();
  std::sort(ticks.begin(), ticks.end());
  const double scale = ns_per_tick();
  auto at = [&](double q) {
    return ticks[static_cast<std::size_t>(q * (ticks.size() - 1))] * scale;
  };
  Result result;
  result.values[0] = at(0.5);
  result.values[1] = at(0.99);
  result.values[2] = at(0.999);
  result.values[3] = double(scrapes.load());
  result.values[4] = double(ticks.size());
  return result;
}

void report_latency(benchmark::State& state, const Result& result) {
  if (!result.ok) {
    state.SkipWithError("the child failed");
    return;
  }
  for (auto _ : state) state.SetIterationTime(result.values[0] * 1e-9);
  state.counters["p50_ns"] = result.values[0];
  state.counters["p99_ns"] = result.values[1];
  state.counters["p999_ns"] = result.values[2];
  state.counters["scrapes"] = result.values[3];
  state.counters["calls"] = result.values[4];
}

void BM_WriteLatency_cells(benchmark::State& state) {
  const bool labeled = state.range(0) == 1;
  const bool scraping = state.range(1) == 1;
  report_latency(
      state, in_child([&] {
        const auto values = label_values(kLatencySeries);
        Registry registry;
        registry.set_default_series_limit(kLatencySeries + 1);
        auto& family = registry.counter("latency_total", "x", {"series"});
        std::vector<Counter*> cells;
        for (const auto& value : values) cells.push_back(&family.labels(value));
        auto scrape = [&] { benchmark::DoNotOptimize(serialize(registry).size()); };
        if (labeled)
          return time_ops([&](int i) { family.labels(values[i % kLatencySeries]).inc(); }, scrape,
                          scraping);
        return time_ops([&](int i) { cells[i % kLatencySeries]->inc(); }, scrape, scraping);
      }));
}

void BM_WriteLatency_shared_atomic(benchmark::State& state) {
  const bool labeled = state.range(0) == 1;
  const bool scraping = state.range(1) == 1;
  report_latency(
      state, in_child([&] {
        const auto values = label_values(kLatencySeries);
        SharedAtomicFamily family("latency_total");
        std::vector<std::atomic<double>*> cells;
        for (const auto& value : values) cells.push_back(&family.labels(value));
        auto scrape = [&] {
          std::string text;
          family.scrape(text);
          benchmark::DoNotOptimize(text.size());
        };
        if (labeled)
          return time_ops(
              [&](int i) { SharedAtomicFamily::inc(family.labels(values[i % kLatencySeries])); },
              scrape, scraping);
        return time_ops([&](int i) { SharedAtomicFamily::inc(*cells[i % kLatencySeries]); }, scrape,
                        scraping);
      }));
}

}  // namespace

int main(int argc, char** argv) {
  long max_series = 1000000;
  if (const char* cap = std::getenv("MONITORING_SCALING_MAX_SERIES")) max_series = std::atol(cap);
  for (auto* bench :
       {benchmark::RegisterBenchmark("Scaling/cells", BM_Scaling_cells),
        benchmark::RegisterBenchmark("Scaling/shared_atomic", BM_Scaling_shared_atomic)}) {
    bench->ArgNames({"threads", "series"})
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
    for (long series : {10000L, 100000L, 1000000L})
      if (series <= max_series)
        for (long threads : {1L, 8L, 32L, 64L}) bench->Args({threads, series});
  }
  benchmark::RegisterBenchmark("ThreadChurn/cells", BM_ThreadChurn_cells)
      ->UseManualTime()
      ->Iterations(1)
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("ThreadChurn/shared_atomic", BM_ThreadChurn_shared_atomic)
      ->UseManualTime()
      ->Iterations(1)
      ->Unit(benchmark::kMicrosecond);
  for (auto* bench :
       {benchmark::RegisterBenchmark("WriteLatency/cells", BM_WriteLatency_cells),
        benchmark::RegisterBenchmark("WriteLatency/shared_atomic", BM_WriteLatency_shared_atomic)})
    bench->ArgNames({"labeled", "scrape"})
        ->Args({0, 0})
        ->Args({0, 1})
        ->Args({1, 0})
        ->Args({1, 1})
        ->UseManualTime()
        ->Iterations(1)
        ->Unit(benchmark::kNanosecond);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
