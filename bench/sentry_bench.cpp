// Caller-side cost of sentry::capture_exception (DESIGN §9: <= 50 us, nothing blocking):
// raw stack capture, exception chain copy, scope/context/breadcrumb snapshot and enqueue.
// Baseline from the same run: constructing, throwing and catching the same exception alone.
// The background thread symbolizes and tries to send to a closed local port (dropped), so
// its work competes for the CPU as it would in production, but never blocks the caller.

#include <benchmark/benchmark.h>

#include <stdexcept>
#include <string>

#include "monitoring/context.hpp"
#include "monitoring/sentry.hpp"

namespace sentry = monitoring::sentry;

namespace {

[[gnu::noinline]] void fail(int depth) {
  if (depth > 0) return fail(depth - 1);
  throw std::runtime_error("payment provider timed out");
}

void start_client() {
  sentry::Options options;
  options.dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/42";  // discard port: refused
  options.queue_size = 1u << 20;  // the measurement must not turn into queue_overflow drops
  options.max_retries = 0;
  options.capture_logs = false;
  options.http_timeout = std::chrono::milliseconds(200);
  sentry::init(options);
  for (int i = 0; i < 100; ++i) sentry::add_breadcrumb({.category = "bench", .message = "step"});
  sentry::set_tag("service", "bench");
}

void BM_ThrowCatchBaseline(benchmark::State& state) {
  for (auto _ : state) {
    try {
      fail(8);
    } catch (const std::exception& error) {
      benchmark::DoNotOptimize(error.what());
    }
  }
}
BENCHMARK(BM_ThrowCatchBaseline);

void BM_CaptureException(benchmark::State& state) {
  start_client();
  auto user = monitoring::context::with_user(123, "john");
  auto request = monitoring::context::with_request_id();
  for (auto _ : state) {
    try {
      fail(8);
    } catch (...) {
      benchmark::DoNotOptimize(
          sentry::capture_exception(std::current_exception(), {{"module", "payment"}}));
    }
  }
  state.counters["dropped"] = static_cast<double>(sentry::stats().dropped);
  sentry::close(std::chrono::milliseconds(100));
}
BENCHMARK(BM_CaptureException)->Iterations(20000);

void BM_CaptureMessage(benchmark::State& state) {
  start_client();
  for (auto _ : state) benchmark::DoNotOptimize(sentry::capture_message("checkout slow"));
  sentry::close(std::chrono::milliseconds(100));
}
BENCHMARK(BM_CaptureMessage)->Iterations(20000);

}  // namespace

BENCHMARK_MAIN();
