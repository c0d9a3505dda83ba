// The one-call setup: MonitoringConfig (in code or from the environment), setup_monitoring,
// the endpoints it serves, and shutdown_monitoring.
//
//   example_setup                 config in code: 127.0.0.1, an ephemeral port, text logs on
//                                 stdout and JSON lines in ./logs/app.log; asks its own
//                                 /metrics, /health, /ready and /live, then shuts down (exit 0)
//   example_setup --env           the same from MonitoringConfig::from_env() (MONITORING_PORT,
//                                 LOG_DIR, DATABASE_URL, ... see README "Environment variables")
//   example_setup --env --serve   ... and keeps serving until Ctrl-C; meanwhile, e.g.:
//     curl -H 'Accept: application/openmetrics-text' localhost:9090/metrics
//
// Exit codes: 0 done, 1 setup failed (port in use, unwritable LOG_DIR), 2 bad configuration.

#include <chrono>
#include <csignal>
#include <iostream>
#include <monitoring/monitoring.hpp>
#include <string>
#include <string_view>
#include <thread>

#include "loopback_http.hpp"

namespace {

volatile std::sig_atomic_t stop_requested = 0;

/// Asks the server for `path` and prints the status, the content type and the first
/// `max_lines` lines of the body (comment lines skipped unless `comments`).
void show(std::uint16_t port, std::string_view path, std::string_view accept = {},
          int max_lines = 1, bool comments = true) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!accept.empty()) headers.emplace_back("Accept", std::string(accept));
  const example::HttpAnswer answer = example::http_get(port, path, headers);
  std::cout << "GET " << path << (accept.empty() ? "" : " (Accept: " + std::string(accept) + ")")
            << " -> " << answer.status << ", " << answer.header("Content-Type") << "\n";
  int shown = 0;
  for (std::size_t at = 0; at < answer.body.size() && shown < max_lines;) {
    std::size_t end = answer.body.find('\n', at);
    if (end == std::string::npos) end = answer.body.size();
    const std::string_view line(answer.body.data() + at, end - at);
    if (comments || !line.starts_with('#')) {
      std::cout << "    " << line << "\n";
      ++shown;
    }
    at = end + 1;
  }
  if (answer.body.ends_with("# EOF\n")) std::cout << "    ...\n    # EOF\n";
  std::cout << std::flush;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  bool use_env = false;
  bool serve = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--env") {
      use_env = true;
    } else if (arg == "--serve") {
      serve = true;
    } else {
      std::cerr << "usage: example_setup [--env] [--serve]\n";
      return 2;
    }
  }

  // 1. The configuration: an aggregate, so designated initializers (in declaration order) pick
  //    the fields to change; everything else keeps its default. Empty URLs = no check.
  monitoring::MonitoringConfig config{
      .log_level = "INFO",
      .log_dir = "logs",
      .use_json_logs = false,  // readable console lines; the file is always ECS JSON
      .sentry_dsn = "",        // e.g. "https://<key>@o1.ingest.sentry.io/42"
      .sentry_environment = "example",
      .monitoring_host = "127.0.0.1",
      .monitoring_port = 0,  // ephemeral: read the bound one with server.port()
      .enable_monitoring_server = true,
      // .database_url = "postgresql://bot@localhost/bot",   -> checks database, connections,
      // .redis_url = "redis://localhost:6379/0",            -> redis, cache
      // .payment_systems = {{"yookassa", "https://api.yookassa.ru"}},  -> payment:yookassa
      .log_console = "stdout",
  };
  if (use_env) {
    try {
      config = monitoring::MonitoringConfig::from_env();
    } catch (const monitoring::ConfigError& error) {
      // Names the variable and shows its value with secrets redacted, e.g.
      // "MONITORING_PORT: invalid value "90a": expected an integer port 0..65535".
      std::cerr << "configuration error: " << error.what() << "\n";
      return 2;
    }
  }

  // 2. Setup: logging, the metric catalog and process metrics, the health and readiness
  //    checkers, Sentry (when a DSN is set) and the HTTP server.
  monitoring::MonitoringServer server;
  try {
    server = monitoring::setup_monitoring(config);
  } catch (const monitoring::ConfigError& error) {  // a bad field, an unwritable log_dir
    std::cerr << "configuration error: " << error.what() << "\n";
    return 2;
  } catch (const monitoring::Error& error) {  // the port is taken, the host is not local
    std::cerr << "setup failed: " << error.what() << "\n";
    return 1;
  }

  monitoring::StructuredLogger logger("example.setup");
  logger.info("monitoring is up", {{"port", server.port()}});

  // 3. The application's own checks go next to the built-in ones.
  server.health_checker()->add_check("self", [] { return true; }, {.critical = false});

  if (server.running()) {
    const std::uint16_t port = server.port();
    show(port, "/ready");  // 503: the application has not said it finished starting
    server.mark_started();
    show(port, "/ready");  // 200 from now on, until shutdown begins
    show(port, "/health");
    show(port, "/live");
    show(port, "/metrics", {}, 3, false);
    show(port, "/metrics", "application/openmetrics-text; version=1.0.0", 3, false);
  } else {
    server.mark_started();
    std::cout << "ENABLE_MONITORING_SERVER is off: no endpoints\n";
  }

  if (serve && server.running()) {
    std::cout << "serving " << server.url() << "/metrics, /health, /ready, /live; Ctrl-C stops\n";
    std::signal(SIGINT, [](int) { stop_requested = 1; });
    std::signal(SIGTERM, [](int) { stop_requested = 1; });
    auto& loop = monitoring::heartbeat("main_loop", 10s);  // /live turns 503 if this stalls
    while (!stop_requested) {
      loop.beat();
      std::this_thread::sleep_for(100ms);
    }
  }

  // 4. Shutdown: /ready 503, MONITORING_DRAIN_MS, server stop (in-flight requests get
  //    MONITORING_SHUTDOWN_GRACE_MS), checkers stop, Sentry and the log are flushed. The
  //    handle's destructor does the same; calling it explicitly makes the order visible.
  logger.info("shutting down");
  monitoring::shutdown_monitoring(server);
  std::cout << "stopped; running() = " << std::boolalpha << server.running() << "\n";
  return 0;
}
