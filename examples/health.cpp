// Health, readiness and liveness: setup_monitoring builds /health and /ready from the config
// (DATABASE_URL, REDIS_URL, TELEGRAM_TOKEN, PANEL_URL, PAYMENT_SYSTEMS from the environment),
// the application adds its own checks and a heartbeat, marks startup complete, and shuts down
// with a drain period.
//
//   DATABASE_URL=postgresql://bot@localhost/bot example_health
//   then: curl localhost:9090/health, /ready, /live

#include <chrono>
#include <csignal>
#include <iostream>
#include <monitoring/monitoring.hpp>
#include <thread>

namespace {
volatile std::sig_atomic_t stop_requested = 0;
}

int main() {
  using namespace std::chrono_literals;
  monitoring::MonitoringConfig config;
  try {
    config = monitoring::MonitoringConfig::from_env();
  } catch (const monitoring::ConfigError& error) {
    std::cerr << error.what() << "\n";
    return 2;
  }
  if (config.drain_period == 0ms) config.drain_period = 2s;  // Kubernetes: stop routing first
  auto server = monitoring::setup_monitoring(config);

  // An application check: non-critical, so a full queue only degrades /health.
  int queue_depth = 0;
  server.health_checker()->add_check(
      "job_queue",
      [&queue_depth]() -> monitoring::health::CheckResult {
        if (queue_depth > 1000) return monitoring::health::CheckResult::degraded("queue backed up");
        return monitoring::health::CheckResult::healthy();
      },
      {.timeout = 1s, .critical = false});

  // The main loop proves it runs: /live turns 503 if it stalls for 5 s.
  monitoring::Heartbeat& loop = monitoring::heartbeat("main_loop", 5s);
  server.mark_started();
  std::cout << "health: " << server.url() << "/health  ready: " << server.url()
            << "/ready  live: " << server.url() << "/live\n"
            << "Ctrl-C stops (readiness drains for " << config.drain_period.count() << " ms)\n";

  std::signal(SIGINT, [](int) { stop_requested = 1; });
  std::signal(SIGTERM, [](int) { stop_requested = 1; });
  while (!stop_requested) {
    loop.beat();
    queue_depth = (queue_depth + 37) % 1500;
    std::this_thread::sleep_for(200ms);
  }
  monitoring::shutdown_monitoring(server);  // /ready 503, drain, stop, flush logs
}
