// The cost of a task's own context per coroutine resumption: a coroutine doing `co_await
// asio::post` round trips on a single-threaded io_context, spawned plainly (the baseline) and
// through monitoring::spawn (the task's context is swapped in and out around each resumption).
// Both run in the same process, with and without scopes open (user, Sentry thread scope and
// an active transaction, which the task then carries).

#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "monitoring/context.hpp"
#include "monitoring/monitor/coroutine.hpp"
#include "monitoring/sentry.hpp"

namespace asio = boost::asio;

namespace {

asio::awaitable<void> round_trips(benchmark::State& state, bool with_scopes) {
  std::optional<monitoring::ContextScope> user;
  std::optional<monitoring::sentry::ThreadScope> scope;
  monitoring::sentry::Span transaction;  // unsampled (no client), but bound: a trace in context
  if (with_scopes) {
    user.emplace(monitoring::context::with_user(42));
    scope.emplace();
    scope->set_tag("payment", "yookassa");
    transaction = monitoring::sentry::start_transaction("bench", "task");
  }
  auto executor = co_await asio::this_coro::executor;
  for (auto _ : state) co_await asio::post(executor, asio::use_awaitable);
}

void BM_PostRoundTrip_PlainCoSpawn(benchmark::State& state) {
  asio::io_context io(1);
  asio::co_spawn(io, round_trips(state, state.range(0) != 0), asio::detached);
  io.run();
}
BENCHMARK(BM_PostRoundTrip_PlainCoSpawn)->Arg(0)->Arg(1)->ArgName("scopes");

void BM_PostRoundTrip_MonitoringSpawn(benchmark::State& state) {
  asio::io_context io(1);
  monitoring::spawn(io, round_trips(state, state.range(0) != 0), asio::detached);
  io.run();
}
BENCHMARK(BM_PostRoundTrip_MonitoringSpawn)->Arg(0)->Arg(1)->ArgName("scopes");

// Spawning itself: the task allocates its saved state (three slots) at the start.
asio::awaitable<void> nothing() {
  co_return;
}

void BM_Spawn_PlainCoSpawn(benchmark::State& state) {
  asio::io_context io(1);
  for (auto _ : state) {
    asio::co_spawn(io, nothing(), asio::detached);
    io.run();
    io.restart();
  }
}
BENCHMARK(BM_Spawn_PlainCoSpawn);

void BM_Spawn_MonitoringSpawn(benchmark::State& state) {
  asio::io_context io(1);
  auto user = monitoring::context::with_user(42);
  for (auto _ : state) {
    monitoring::spawn(io, nothing(), asio::detached);
    io.run();
    io.restart();
  }
}
BENCHMARK(BM_Spawn_MonitoringSpawn);

}  // namespace

BENCHMARK_MAIN();
