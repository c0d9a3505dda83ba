// Caller-side cost of sentry::capture_exception (target: <= 50 us, nothing blocking):
// raw stack capture, exception chain copy, scope/context/breadcrumb snapshot and enqueue.
// Baseline from the same run: constructing, throwing and catching the same exception alone
// (on as many threads). The background thread symbolizes and tries to send to a closed local
// port (dropped), so its work competes for the CPU as it would in production, but never
// blocks the caller. The /threads:2 runs show what the callers' shared state costs when two
// threads capture at once (with 100 breadcrumbs and a global tag set, as in a service).

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

// queue_size: large by default so that the measurement does not turn into queue_overflow
// drops; the worker cannot keep up with a capture loop, so every event stays in memory until
// the end of the run and its first-touch page faults count on the caller. The _Queue100 runs
// use the default queue instead: events beyond it are dropped after being built, and memory
// is reused as in a service.
constexpr std::size_t kDefaultQueue = 1u << 20;

void start_client(std::size_t queue_size = kDefaultQueue, bool sessions = false) {
  sentry::Options options;
  options.release = "bench@1";
  options.auto_session_tracking = sessions;
  options.dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/42";  // discard port: refused
  options.queue_size = queue_size;
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
BENCHMARK(BM_ThrowCatchBaseline)->Threads(1)->Threads(2);

void BM_CaptureException(benchmark::State& state) {
  if (state.thread_index() == 0) start_client();
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
  if (state.thread_index() == 0) {
    state.counters["dropped"] = static_cast<double>(sentry::stats().dropped);
    sentry::close(std::chrono::milliseconds(100));
  }
}
BENCHMARK(BM_CaptureException)->Iterations(20000)->Threads(1)->Threads(2);

// The same with a new breadcrumb before every capture, so no capture can reuse the previous
// one's breadcrumb copy (the common case when errors are not in a burst).
void capture_after_breadcrumb(benchmark::State& state, std::size_t queue_size) {
  if (state.thread_index() == 0) start_client(queue_size);
  for (auto _ : state) {
    sentry::add_breadcrumb({.category = "http", .message = "GET /plans"});
    try {
      fail(8);
    } catch (...) {
      benchmark::DoNotOptimize(
          sentry::capture_exception(std::current_exception(), {{"module", "payment"}}));
    }
  }
  if (state.thread_index() == 0) sentry::close(std::chrono::milliseconds(100));
}

void BM_CaptureExceptionAfterBreadcrumb(benchmark::State& state) {
  capture_after_breadcrumb(state, kDefaultQueue);
}
BENCHMARK(BM_CaptureExceptionAfterBreadcrumb)->Iterations(20000)->Threads(1)->Threads(2);

void BM_CaptureExceptionAfterBreadcrumb_Queue100(benchmark::State& state) {
  capture_after_breadcrumb(state, 100);
}
BENCHMARK(BM_CaptureExceptionAfterBreadcrumb_Queue100)->Iterations(20000)->Threads(1)->Threads(2);

void BM_CaptureMessage(benchmark::State& state) {
  if (state.thread_index() == 0) start_client();
  for (auto _ : state) benchmark::DoNotOptimize(sentry::capture_message("checkout slow"));
  if (state.thread_index() == 0) sentry::close(std::chrono::milliseconds(100));
}
BENCHMARK(BM_CaptureMessage)->Iterations(20000)->Threads(1)->Threads(2);

// Error messages with release health off (arg 0, the baseline) and on (arg 1): each error
// also counts in the session, one relaxed atomic increment shared by the capturing threads.
void BM_CaptureErrorMessage_Sessions(benchmark::State& state) {
  if (state.thread_index() == 0) start_client(kDefaultQueue, state.range(0) != 0);
  for (auto _ : state)
    benchmark::DoNotOptimize(sentry::capture_message("checkout failed", sentry::Level::kError));
  if (state.thread_index() == 0) sentry::close(std::chrono::milliseconds(100));
}
BENCHMARK(BM_CaptureErrorMessage_Sessions)
    ->Arg(0)
    ->Arg(1)
    ->Iterations(20000)
    ->Threads(1)
    ->Threads(2);

void BM_AddBreadcrumb(benchmark::State& state) {
  if (state.thread_index() == 0) start_client();
  for (auto _ : state)
    sentry::add_breadcrumb(
        {.category = "http", .message = "GET /plans", .data = {{"status", "200"}}});
  if (state.thread_index() == 0) sentry::close(std::chrono::milliseconds(100));
}
BENCHMARK(BM_AddBreadcrumb)->Threads(1)->Threads(2);

}  // namespace

BENCHMARK_MAIN();
