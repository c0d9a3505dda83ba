// monitoring-demo: a simulated 2GETPRO Telegram bot that sells subscriptions, wired to the
// monitoring library exactly as a real service would be.
//
// Configuration: the library's environment variables (MonitoringConfig::from_env: LOG_LEVEL,
// MONITORING_HOST, MONITORING_PORT, ...) plus DEMO_SEED, DEMO_SPEED, DEMO_DURATION_SECONDS and
// DEMO_THREADS. Exit codes: 0 after SIGINT / SIGTERM / DEMO_DURATION_SECONDS, 1 when the
// monitoring stack cannot start, 2 for a bad environment variable.

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <monitoring/monitoring.hpp>
#include <string>

#include "bot.hpp"
#include "options.hpp"

namespace {

constexpr int kExitStartupFailed = 1;
constexpr int kExitBadConfiguration = 2;

void print_endpoints(const monitoring::MonitoringServer& server, const demo::DemoOptions& options) {
  std::printf("monitoring-demo: simulated 2GETPRO bot (seed %llu, speed %g, %d threads)\n",
              static_cast<unsigned long long>(options.seed), options.speed, options.threads);
  if (!server.running()) {
    std::printf("monitoring server disabled (ENABLE_MONITORING_SERVER=false)\n");
  } else {
    const std::string base = server.url();
    std::printf("listening on %s:%u\n", server.host().c_str(),
                static_cast<unsigned>(server.port()));
    for (const char* path : {"/metrics", "/health", "/ready", "/live"})
      std::printf("  %s%s\n", base.c_str(), path);
  }
  if (options.duration_seconds)
    std::printf("stopping by itself after %g s\n", *options.duration_seconds);
  std::printf("Ctrl-C or SIGTERM stops it.\n");
  std::fflush(stdout);
}

int run() {
  monitoring::MonitoringConfig config;
  demo::DemoOptions options;
  try {
    config = monitoring::MonitoringConfig::from_env();
    options = demo::DemoOptions::from_env();
  } catch (const monitoring::ConfigError& error) {
    std::fprintf(stderr, "monitoring-demo: configuration error: %s\n", error.what());
    return kExitBadConfiguration;
  }

  demo::BotSimulation bot(options);
  // Signals are turned into an ordinary handler on the simulation's event loop (asio writes
  // to a self-pipe in the signal handler), so stopping runs outside signal context.
  boost::asio::signal_set signals(bot.io(), SIGINT, SIGTERM);
  signals.async_wait([&bot](const boost::system::error_code& error, int signal) {
    if (error) return;
    std::printf("monitoring-demo: %s received, stopping\n",
                signal == SIGINT ? "SIGINT" : "SIGTERM");
    std::fflush(stdout);
    bot.stop();
  });
  boost::asio::steady_timer deadline(bot.io());
  if (options.duration_seconds) {
    deadline.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(*options.duration_seconds)));
    deadline.async_wait([&bot](const boost::system::error_code& error) {
      if (error) return;
      std::printf("monitoring-demo: DEMO_DURATION_SECONDS elapsed, stopping\n");
      std::fflush(stdout);
      bot.stop();
    });
  }

  monitoring::MonitoringServer server;
  try {
    server = monitoring::setup_monitoring(config);
  } catch (const monitoring::ConfigError& error) {
    std::fprintf(stderr, "monitoring-demo: configuration error: %s\n", error.what());
    return kExitBadConfiguration;
  } catch (const monitoring::Error& error) {
    std::fprintf(stderr, "monitoring-demo: cannot start monitoring: %s\n", error.what());
    return kExitStartupFailed;
  }
  print_endpoints(server, options);

  monitoring::StructuredLogger logger("bot");
  logger.add_context({{"service", "2getpro_bot"}});
  bot.start();
  // The bot loop proves it is alive: /live turns 503 if this timer stops firing.
  monitoring::Heartbeat& loop = monitoring::heartbeat("bot_loop", std::chrono::seconds(10));
  bot.scheduler().every(1.0, [&loop] { loop.beat(); });
  server.mark_started();  // /ready may answer 200 from now on
  logger.info("bot started", {{"threads", options.threads}, {"speed", options.speed}});
  bot.wait();
  monitoring::health::HeartbeatRegistry::global().remove("bot_loop");
  logger.info("bot stopped");

  monitoring::shutdown_monitoring(server);
  std::printf("monitoring-demo: stopped\n");
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "monitoring-demo: %s\n", error.what());
    return kExitStartupFailed;
  }
}
