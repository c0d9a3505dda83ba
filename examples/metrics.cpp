// The metric catalog and your own metrics: the PrometheusMetrics / CustomMetrics calls,
// a timed scope, the decorator form, a registry of your own, and both exposition formats.
//
//   example_metrics            prints the exposition of both registries

#include <chrono>
#include <iostream>
#include <monitoring/metrics.hpp>
#include <thread>

int main() {
  using namespace monitoring;
  using namespace monitoring::metrics;

  // The catalog lives in the default registry (setup_monitoring registers it; so does this).
  register_catalog();
  PrometheusMetrics::increment_payment_requests("yookassa");
  PrometheusMetrics::increment_payment_success("yookassa");
  PrometheusMetrics::observe_payment_processing_duration("yookassa", 1.5);
  PrometheusMetrics::set_active_users(150);
  CustomMetrics::set_conversion_rate("daily", 15.5);
  CustomMetrics::increment_referral_revenue("RUB", 1000.0);

  {  // a timed scope: observed into payment_processing_duration_seconds when it ends
    auto timer = PrometheusMetrics::track_time("payment", {{"payment_system", "cryptopay"}});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // The decorator form: same signature, timed on every call.
  auto handle_start = PrometheusMetrics::timed("bot_handler", {{"handler", "start"}},
                                               [](int user_id) { return user_id * 2; });
  handle_start(42);

  try {
    PrometheusMetrics::track_time("payments", {});  // unknown kind: an error at the call
  } catch (const MetricError& error) {
    std::cout << "# rejected: " << error.what() << "\n";
  }

  // A registry of your own, with a bound series kept for the hot path.
  Registry registry;
  auto& orders = registry.counter("orders_total", "Orders placed.", {"shop", "status"});
  Counter& paid = orders.labels("main", "paid");
  for (int i = 0; i < 3; ++i) paid.inc();
  auto& latency = registry.histogram("job_seconds", "Job duration.", {"kind"},
                                     exponential_buckets(0.001, 2, 8));
  latency.labels("resize").observe(0.042);

  std::cout << serialize(registry);
  std::cout << "\n# the same registry as OpenMetrics:\n"
            << serialize(registry, ExpositionFormat::kOpenMetrics);
  std::cout << "\n# the catalog (default registry), payment series only:\n";
  const std::string catalog = serialize(Registry::default_registry());
  for (std::size_t at = 0, end; at < catalog.size(); at = end + 1) {
    end = catalog.find('\n', at);
    if (end == std::string::npos) end = catalog.size();
    const std::string_view line(catalog.data() + at, end - at);
    if (line.starts_with("payment_")) std::cout << line << "\n";
  }
}
