// A batch job (a nightly report, a subscription-expiry sweep) that ends before Prometheus could
// scrape it: it keeps its metrics in a registry of its own and pushes them to a Pushgateway
// when it is done. NEEDS a running Pushgateway, for example Debian's:
//
//   prometheus-pushgateway --web.listen-address=127.0.0.1:9091 &
//   example_pushgateway [gateway_url]     (default: $PUSHGATEWAY_URL, else http://127.0.0.1:9091)
//   curl -s http://127.0.0.1:9091/metrics | grep expiry_sweep
//
// Exit codes: 0 pushed; 1 the gateway is unreachable or refused the push (the message says
// which, with the group URL); 2 a malformed gateway URL.

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <monitoring/metrics.hpp>
#include <string>

int main(int argc, char** argv) {
  using namespace monitoring::metrics;
  std::string url = "http://127.0.0.1:9091";
  if (const char* from_env = std::getenv("PUSHGATEWAY_URL"); from_env != nullptr && *from_env)
    url = from_env;
  if (argc > 1) url = argv[1];

  // The job's own registry: only its metrics are pushed (not the process metrics or the
  // catalog of the default registry, which describe a long-running service).
  Registry registry;
  Counter& expired =
      registry
          .counter("expiry_sweep_subscriptions_expired_total", "Subscriptions expired.", {"plan"})
          .labels("monthly");
  Gauge& duration =
      registry.gauge("expiry_sweep_duration_seconds", "How long the last sweep took.").labels();
  Gauge& last_success = registry
                            .gauge("expiry_sweep_last_success_timestamp_seconds",
                                   "Unix time of the last successful sweep.")
                            .labels();

  const auto started = std::chrono::steady_clock::now();
  expired.inc(17);  // ... the job's real work ...
  duration.set(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  last_success.set_to_current_time();

  try {
    // One group per job and instance: the next push of the same group replaces this one.
    PushgatewayOptions options;  // also: username / password, bearer_token
    options.timeout = std::chrono::seconds(3);
    Pushgateway gateway(url, "expiry_sweep", {{"instance", "worker-1"}}, options);
    gateway.push(registry);  // PUT; push_add() would POST, remove() DELETEs the group
    std::cout << "pushed " << registry.family_count() << " metric families to " << gateway.url()
              << "\n";
  } catch (const monitoring::ConfigError& error) {
    std::cerr << "bad Pushgateway URL: " << error.what() << "\n";
    return 2;
  } catch (const monitoring::Error& error) {
    std::cerr << "cannot push the job's metrics: " << error.what()
              << "\n(is a Pushgateway listening there? pass its URL as the first argument or "
                 "in PUSHGATEWAY_URL)\n";
    return 1;
  }
  return 0;
}
