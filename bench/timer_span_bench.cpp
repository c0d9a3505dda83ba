// Caller-side cost of a catalog timer of kind http when it starts a Sentry transaction by itself
// (no active trace; issue 13, point 6). Same-run baseline: the same timer with the tracing hooks
// not installed (Sentry off), which is what every timer cost before. Also: the transaction
// sampled out (rate 0: ids, context scope, no send), sampled (rate 1: the record is queued for
// the background thread, which sends to a refused local port), and the timer as a child span of
// an active transaction.

#include <benchmark/benchmark.h>

#include <chrono>

#include "monitoring/catalog/tracing.hpp"
#include "monitoring/monitoring.hpp"

namespace sentry = monitoring::sentry;
using monitoring::metrics::PrometheusMetrics;

namespace {

const monitoring::metrics::Labels kLabels = {{"method", "POST"}, {"endpoint", "/bench"}};

/// Sentry running with `rate` and the catalog's hooks installed, as setup_monitoring does.
class TracingOn {
 public:
  explicit TracingOn(double rate) {
    sentry::Options options;
    options.dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/42";  // refused
    options.traces_sample_rate = rate;
    options.queue_size = 1u << 20;
    options.max_retries = 0;
    options.capture_logs = false;
    options.http_timeout = std::chrono::milliseconds(200);
    sentry::init(options);
    monitoring::metrics::detail::set_timer_span_hooks(&sentry::detail::timer_span_hooks());
  }
  ~TracingOn() {
    monitoring::metrics::detail::set_timer_span_hooks(nullptr);
    sentry::close();
  }
};

void BM_HttpTimer_NoTracing(benchmark::State& state) {
  for (auto _ : state) {
    auto timer = PrometheusMetrics::track_time("http", kLabels);
  }
}
BENCHMARK(BM_HttpTimer_NoTracing);

void BM_HttpTimer_OwnTransaction(benchmark::State& state) {
  TracingOn tracing(static_cast<double>(state.range(0)));
  for (auto _ : state) {
    auto timer = PrometheusMetrics::track_time("http", kLabels);
  }
}
BENCHMARK(BM_HttpTimer_OwnTransaction)->ArgName("rate")->Arg(0)->Arg(1);

void BM_HttpTimer_ChildSpan(benchmark::State& state) {
  TracingOn tracing(1.0);
  auto transaction = sentry::start_transaction("bench", "task");
  for (auto _ : state) {
    auto timer = PrometheusMetrics::track_time("http", kLabels);
  }
}
BENCHMARK(BM_HttpTimer_ChildSpan);

}  // namespace

BENCHMARK_MAIN();
