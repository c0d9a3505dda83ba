// Tracing: a transaction with child spans, the sentry-trace / baggage headers carried to another
// service over HTTP, and the trace id in every log line. An HttpServer on 127.0.0.1 plays the
// admin panel: it continues the caller's trace from the incoming headers.
//
//   example_tracing               no Sentry: spans are not sampled (sentry-trace ends in "-0"),
//                                 but ids, headers and log fields work the same (exit 0)
//   SENTRY_DSN=https://<key>@o1.ingest.sentry.io/<project> example_tracing
//                                 traces_sample_rate 1.0: both transactions are sent to Sentry

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <monitoring/monitoring.hpp>
#include <monitoring/server/http_server.hpp>
#include <string>
#include <thread>

#include "loopback_http.hpp"

namespace sentry = monitoring::sentry;
using namespace std::chrono_literals;

int main() {
  namespace logging = monitoring::logging;
  logging::LoggingOptions log_options;  // ECS JSON lines on stdout: look for trace.id / span.id
  log_options.console = logging::ConsoleTarget::kStdout;
  logging::configure(log_options);

  if (const char* dsn = std::getenv("SENTRY_DSN"); dsn != nullptr && *dsn != '\0') {
    try {
      sentry::init({.dsn = dsn, .environment = "example", .traces_sample_rate = 1.0});
    } catch (const sentry::SentryError& error) {
      std::cerr << error.what() << "\n";
      return 2;
    }
  }
  monitoring::StructuredLogger bot_log("bot.renewal");
  monitoring::StructuredLogger panel_log("panel.api");

  // The callee: continues the trace named by the caller's headers (a malformed or missing
  // sentry-trace starts a new trace instead).
  monitoring::server::HttpServer panel({.host = "127.0.0.1", .port = 0});
  panel.route("/api/users/123", [&panel_log](const monitoring::server::Request& request) {
    auto transaction =
        sentry::start_transaction("GET /api/users/{id}", "http.server",
                                  request.header("sentry-trace"), request.header("baggage"));
    panel_log.info("panel: user requested", {{"sentry_trace", request.header("sentry-trace")}});
    monitoring::server::Response response;
    response.body = transaction.trace_id();  // to show the caller that the trace continued
    return response;
  });
  panel.start();

  std::string trace_id;
  {
    auto user = monitoring::context::with_user(123, "john");
    // The caller: a transaction bound to this thread, so log lines and Sentry events carry
    // its trace.id / span.id.
    auto transaction = sentry::start_transaction("renew_subscription", "task");
    trace_id = transaction.trace_id();
    bot_log.info("renewal started");
    {
      auto query = sentry::start_span("db.query", "SELECT subscription");  // child, bound
      std::this_thread::sleep_for(3ms);
      bot_log.info("subscription loaded");  // span.id of the child
    }
    {
      // A metrics timer and a child span in one (op = the timer kind): observed into
      // panel_api_response_time{endpoint="/api/users"} when the scope ends.
      auto call = sentry::track_time("panel_api", {{"endpoint", "/api/users"}});
      const example::HttpAnswer answer = example::http_get(
          panel.port(), "/api/users/123",
          {{"sentry-trace", call.span().sentry_trace()}, {"baggage", call.span().baggage()}});
      std::cout << "outgoing sentry-trace: " << call.span().sentry_trace() << "\n"
                << "outgoing baggage:      " << call.span().baggage() << "\n"
                << "panel answered " << answer.status << "; its trace " << answer.body
                << (answer.body == trace_id ? " = ours: the trace continued\n" : " differs!\n");
    }
    transaction.set_status("ok");
  }  // the transaction finishes here (and is sent, when sampled)

  // A trace that started in another system (a webhook with its own ids): no span of ours, but
  // log lines (and Sentry events) still carry the ids while the scope lives.
  {
    auto scope =
        monitoring::context::with_trace("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    bot_log.info("payment webhook received");
    monitoring::PrometheusMetrics::observe_payment_processing_duration("yookassa", 0.8);
  }

  logging::flush();
  panel.stop();
  // Histogram observations made inside a trace carry it as an OpenMetrics exemplar
  // (` # {trace_id="..."} <value> <time>` after a bucket line); the text format has no room
  // for them.
  std::cout << "OpenMetrics bucket lines with an exemplar:\n";
  const std::string text = serialize(monitoring::metrics::Registry::default_registry(),
                                     monitoring::metrics::ExpositionFormat::kOpenMetrics);
  int exemplars = 0;
  for (std::size_t at = 0; at < text.size();) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + at, end - at);
    if (line.find("_bucket{") != std::string_view::npos &&
        line.find(" # {") != std::string_view::npos) {
      std::cout << "    " << line << "\n";
      ++exemplars;
    }
    at = end + 1;
  }
  if (exemplars == 0) std::cout << "    (none: this build of the library writes no exemplars)\n";

  if (sentry::is_enabled()) {
    std::cout << "Sentry flushed: " << (sentry::flush(5s) ? "yes" : "no") << "\n";
    sentry::close();
  }
  logging::shutdown();
  return 0;
}
