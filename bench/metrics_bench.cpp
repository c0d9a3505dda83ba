// Hot-path cost of metric updates, each beside a baseline from the same run.
//
// Threaded runs use real time. Every benchmark reports two numbers of its own, measured with
// steady_clock around each thread's loop so they do not depend on how Google Benchmark
// aggregates threads:
//   ns_per_op_thread     wall time of a thread's loop / that thread's iterations (latency)
//   ns_per_op_aggregate  the same divided by the thread count (throughput of all threads:
//                        "2 threads no slower than 1" means this is <= the 1-thread figure)
//
// Run: build-*/bench/metrics_bench --benchmark_min_time=0.2

#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "monitoring/context.hpp"
#include "monitoring/metrics.hpp"

namespace {

using monitoring::metrics::Counter;
using monitoring::metrics::Gauge;
using monitoring::metrics::Histogram;
using monitoring::metrics::PrometheusMetrics;
using monitoring::metrics::Registry;

// Measures one thread's loop and publishes the two per-op figures described above.
class LoopTimer {
 public:
  explicit LoopTimer(benchmark::State& state)
      : state_(state), start_(std::chrono::steady_clock::now()) {}
  ~LoopTimer() {
    const double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start_).count();
    const double per_op =
        state_.iterations() > 0 ? ns / static_cast<double>(state_.iterations()) : 0;
    // kAvgThreads: each thread contributes its own figure, the report shows the mean.
    state_.counters["ns_per_op_thread"] =
        benchmark::Counter(per_op, benchmark::Counter::kAvgThreads);
    state_.counters["ns_per_op_aggregate"] =
        benchmark::Counter(per_op / state_.threads(), benchmark::Counter::kAvgThreads);
  }

 private:
  benchmark::State& state_;
  std::chrono::steady_clock::time_point start_;
};

// ---- baselines ---------------------------------------------------------------------------

// One atomic shared by all threads: with 2 threads this is the contended baseline.
std::atomic<std::uint64_t> g_shared_u64{0};
std::atomic<double> g_shared_double{0};

void BM_Baseline_RelaxedAtomicAdd(benchmark::State& state) {
  LoopTimer timer(state);
  for (auto _ : state) g_shared_u64.fetch_add(1, std::memory_order_relaxed);
}
BENCHMARK(BM_Baseline_RelaxedAtomicAdd)->Threads(1)->Threads(2)->UseRealTime();

void BM_Baseline_AtomicDoubleCasAdd(benchmark::State& state) {
  LoopTimer timer(state);
  for (auto _ : state) {
    double expected = g_shared_double.load(std::memory_order_relaxed);
    while (!g_shared_double.compare_exchange_weak(expected, expected + 1.0,
                                                  std::memory_order_relaxed)) {
    }
  }
}
BENCHMARK(BM_Baseline_AtomicDoubleCasAdd)->Threads(1)->Threads(2)->UseRealTime();

// ---- the library -------------------------------------------------------------------------

Registry& bench_registry() {
  static Registry* registry = new Registry();
  return *registry;
}

void BM_CounterInc_Bound(benchmark::State& state) {
  // The same series from every thread.
  static Counter& counter =
      bench_registry().counter("bench_bound_total", "Bound counter.").labels();
  LoopTimer timer(state);
  for (auto _ : state) counter.inc();
}
BENCHMARK(BM_CounterInc_Bound)->Threads(1)->Threads(2)->UseRealTime();

void BM_CounterInc_Labeled(benchmark::State& state) {
  // The catalog's call: family lookup by label value on every call.
  PrometheusMetrics::increment_payment_success("yookassa");
  LoopTimer timer(state);
  for (auto _ : state) PrometheusMetrics::increment_payment_success("yookassa");
}
BENCHMARK(BM_CounterInc_Labeled)->Threads(1)->Threads(2)->UseRealTime();

// Observes values spread over every bucket and +Inf, so the bucket search is not always the
// shortest; each thread starts at another value.
void observe_spread(benchmark::State& state, Histogram& histogram) {
  static const std::array<double, 16> values = {0.001, 0.007, 0.02, 0.04, 0.07,  0.2,  0.3,  0.7,
                                                1.5,   3.0,   7.0,  12.0, 0.004, 0.09, 0.45, 2.0};
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 5;
  LoopTimer timer(state);
  for (auto _ : state) histogram.observe(values[i++ & 15]);
}

void BM_HistogramObserve_Bound(benchmark::State& state) {
  static Histogram& histogram =
      bench_registry()
          .histogram("bench_duration_seconds", "Bound histogram (11 default buckets).")
          .labels();
  observe_spread(state, histogram);
}
BENCHMARK(BM_HistogramObserve_Bound)->Threads(1)->Threads(2)->UseRealTime();

void BM_HistogramObserve_Traced(benchmark::State& state) {
  // As above, inside an active trace: every observation also becomes its bucket's exemplar
  // (trace and span id copied, coarse wall clock read). With 2 threads both write the same
  // series' exemplar slots, the contended case.
  static Histogram& histogram =
      bench_registry()
          .histogram("bench_traced_duration_seconds", "Bound histogram with exemplars.")
          .labels();
  auto trace =
      monitoring::context::with_trace("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
  observe_spread(state, histogram);
}
BENCHMARK(BM_HistogramObserve_Traced)->Threads(1)->Threads(2)->UseRealTime();

void BM_GaugeSet(benchmark::State& state) {
  static Gauge& gauge = bench_registry().gauge("bench_gauge", "Gauge.").labels();
  double v = 0;
  LoopTimer timer(state);
  for (auto _ : state) gauge.set(v += 1.0);
}
BENCHMARK(BM_GaugeSet)->Threads(1)->UseRealTime();

// Baseline for the in-progress guard: the same two updates done by hand.
void BM_GaugeIncDec(benchmark::State& state) {
  static Gauge& gauge = bench_registry().gauge("bench_inprogress_manual", "Gauge.").labels();
  LoopTimer timer(state);
  for (auto _ : state) {
    gauge.inc();
    benchmark::ClobberMemory();
    gauge.dec();
  }
}
BENCHMARK(BM_GaugeIncDec)->Threads(1)->Threads(2)->UseRealTime();

void BM_TrackInprogress(benchmark::State& state) {
  static Gauge& gauge = bench_registry().gauge("bench_inprogress_guard", "Gauge.").labels();
  LoopTimer timer(state);
  for (auto _ : state) {
    auto inside = gauge.track_inprogress();
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_TrackInprogress)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
