// Health endpoints: microbenchmarks of the cached path (Google Benchmark, with a relaxed atomic
// add as the in-run baseline), and a server mode for bench/http/health.sh:
//
//   health_bench [benchmark flags]            the microbenchmarks
//   health_bench --serve [--threads N]        prints "port=N", serves until SIGTERM/SIGINT:
//       /health, /ready, /live    six checks answered from cache (the steady state)
//       /hang/health              a redis check against a TCP peer that accepts and never
//                                 answers (timeout 2 s, no cache): every request waits for it

#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "monitoring/health.hpp"

namespace {

using namespace std::chrono_literals;
using namespace monitoring::health;

CheckerOptions quiet() {
  CheckerOptions options;
  options.export_metrics = false;
  return options;
}

CheckOptions cached(bool critical) {
  CheckOptions options;
  options.cache_ttl = std::chrono::hours(1);
  options.critical = critical;
  return options;
}

// The six checks of a fully configured bot, answered from cache after the first request.
void add_cached_checks(HealthChecker& checker) {
  checker.add_check(
      "database", [] { return CheckResult::healthy("ok (PostgreSQL 15.18)"); }, cached(true));
  checker.add_check(
      "redis", [] { return CheckResult::healthy("ok (PONG from 127.0.0.1:6379)"); }, cached(true));
  checker.add_check(
      "telegram", [] { return CheckResult::healthy("ok (@shop_bot)"); }, cached(false));
  checker.add_check(
      "panel", [] { return CheckResult::healthy("HTTP 200"); }, cached(false));
  checker.add_check(
      "payment:yookassa", [] { return CheckResult::healthy("HTTP 200"); }, cached(false));
  checker.add_check(
      "payment:cryptopay", [] { return CheckResult::healthy("HTTP 200"); }, cached(false));
}

void BM_Baseline_RelaxedAtomicAdd(benchmark::State& state) {
  std::atomic<std::uint64_t> counter{0};
  for (auto _ : state) counter.fetch_add(1, std::memory_order_relaxed);
  benchmark::DoNotOptimize(counter.load());
}
BENCHMARK(BM_Baseline_RelaxedAtomicAdd);

void BM_CheckAsyncFromCache(benchmark::State& state) {
  HealthChecker checker(quiet());
  add_cached_checks(checker);
  checker.check();  // warm the cache
  for (auto _ : state) {
    checker.check_async([](HealthReport report) { benchmark::DoNotOptimize(report.status); });
  }
}
BENCHMARK(BM_CheckAsyncFromCache);

void BM_CheckAsyncFromCacheAndRender(benchmark::State& state) {
  HealthChecker checker(quiet());
  add_cached_checks(checker);
  checker.check();
  for (auto _ : state) {
    checker.check_async([](HealthReport report) {
      std::string body = to_json(report);
      benchmark::DoNotOptimize(body.data());
    });
  }
}
BENCHMARK(BM_CheckAsyncFromCacheAndRender);

void BM_LiveResponse(benchmark::State& state) {
  HeartbeatRegistry registry;
  for (int i = 0; i < state.range(0); ++i) registry.heartbeat("loop" + std::to_string(i), 60s);
  for (auto _ : state) {
    monitoring::server::Response response = live_response(registry);
    benchmark::DoNotOptimize(response.body.data());
  }
}
BENCHMARK(BM_LiveResponse)->Arg(0)->Arg(3);

void BM_HeartbeatBeat(benchmark::State& state) {
  HeartbeatRegistry registry;
  Heartbeat& beat = registry.heartbeat("bot_loop", 60s);
  for (auto _ : state) beat.beat();
}
BENCHMARK(BM_HeartbeatBeat)->ThreadRange(1, 2);

void BM_HeartbeatByName(benchmark::State& state) {
  HeartbeatRegistry registry;
  registry.heartbeat("bot_loop", 60s);
  for (auto _ : state) benchmark::DoNotOptimize(&registry.heartbeat("bot_loop", 60s));
}
BENCHMARK(BM_HeartbeatByName)->ThreadRange(1, 2);

// A loopback port whose backlog completes handshakes but nobody ever reads: a hung dependency.
int silent_listener() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(fd, 4096) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::perror("silent listener");
    std::exit(1);
  }
  return ntohs(address.sin_port);
}

int serve(unsigned threads) {
  // Block the stop signals before any thread starts, then wait for them on this thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  HealthChecker health(quiet());
  add_cached_checks(health);
  ReadinessChecker readiness(quiet());
  readiness.add_check(
      "migrations", [] { return CheckResult::healthy("alembic: at revision 4f2e9a1c7b3d"); },
      cached(true));
  readiness.mark_started();

  HealthChecker hanging(quiet());
  CheckOptions uncached;
  uncached.timeout = 2s;
  uncached.cache_ttl = 0ms;
  hanging.add_check("redis", redis_check("redis://127.0.0.1:" + std::to_string(silent_listener())),
                    uncached);
  hanging.add_check(
      "database", [] {}, cached(true));
  ReadinessChecker hanging_readiness(quiet());

  monitoring::server::HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.threads = threads;
  monitoring::server::HttpServer server(options);
  install_health_routes(server, health, readiness);
  HealthRouteOptions hang_routes;
  hang_routes.health_path = "/hang/health";
  hang_routes.ready_path = "/hang/ready";
  hang_routes.install_live = false;
  install_health_routes(server, hanging, hanging_readiness, hang_routes);
  server.start();
  health.check();  // warm the cache
  std::printf("port=%u\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);

  int received = 0;
  sigwait(&stop_signals, &received);
  server.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "--serve") {
    unsigned threads = 1;
    for (int i = 2; i + 1 < argc; ++i)
      if (std::string_view(argv[i]) == "--threads")
        threads = static_cast<unsigned>(std::stoul(argv[i + 1]));
    return serve(threads);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
