#include "payments.hpp"

#include <chrono>
#include <cstdio>
#include <memory>
#include <utility>

namespace demo {
namespace {

using monitoring::CustomMetrics;
using monitoring::PrometheusMetrics;

monitoring::StructuredLogger& logger() {
  static monitoring::StructuredLogger logger("bot.payments");
  return logger;
}

constexpr double kMeanSecondsBetweenOutages = 300;  // per provider, at DEMO_SPEED=1
constexpr double kReferredShare = 0.15;

}  // namespace

Payments::Payments(Scheduler& scheduler, const SimClock& clock, Random& random, Business& business,
                   PanelApi& panel)
    : scheduler_(scheduler),
      clock_(clock),
      random_(random),
      business_(business),
      panel_(panel),
      providers_{{
          // Cards: most answers within a second, 3-D Secure adds a tail of several seconds.
          {"yookassa", "RUB", 0.8, 0.6, 0.06, "payment_declined", {299, 799, 2490}},
          // Crypto invoices wait for the user's wallet and a confirmation: slower, more expire.
          {"cryptopay", "USD", 2.2, 0.7, 0.09, "invoice_expired", {3.5, 9, 29}},
      }} {}

void Payments::start() {
  for (const Provider& provider : providers_)
    if (CustomMetrics::payment_system_has_health_check(provider.name))
      std::printf(
          "[demo] payment_system_availability{payment_system=\"%s\"} comes from the payment:%s "
          "health check (PAYMENT_SYSTEMS), not from the simulated outages\n",
          provider.name.c_str(), provider.name.c_str());
  std::fflush(stdout);
  publish_availability();
  // The first outage comes early so a short demo run shows one.
  schedule_outage(providers_[0], clock_.scaled(random_.uniform(60, 150)));
  schedule_outage(providers_[1], clock_.scaled(random_.uniform(150, 300)));
  scheduler_.every(5.0, [this] { publish_availability(); });
}

void Payments::schedule_outage(Provider& provider, double delay_seconds) {
  scheduler_.after(delay_seconds, [this, &provider] {
    const double outage = clock_.scaled(random_.uniform(20, 40));
    provider.up.store(false);
    publish_availability(provider);
    logger().warning("payment system unavailable",
                     {{"payment_system", provider.name}, {"outage_seconds", outage}});
    std::printf("[demo] %s is down for %.0f s\n", provider.name.c_str(), outage);
    std::fflush(stdout);
    scheduler_.after(outage, [this, &provider] {
      provider.up.store(true);
      publish_availability(provider);
      logger().info("payment system recovered", {{"payment_system", provider.name}});
      std::printf("[demo] %s is back up\n", provider.name.c_str());
      std::fflush(stdout);
      schedule_outage(provider,
                      clock_.scaled(random_.exponential(1.0 / kMeanSecondsBetweenOutages)));
    });
  });
}

void Payments::publish_availability() {
  for (const Provider& provider : providers_) publish_availability(provider);
}

void Payments::publish_availability(const Provider& provider) {
  // With a payment:<name> check (PAYMENT_SYSTEMS) the check is the gauge's only writer: the
  // simulated outage would contradict what it measures, so the demo leaves the gauge to it.
  if (CustomMetrics::payment_system_has_health_check(provider.name)) return;
  CustomMetrics::set_payment_system_availability(provider.name, provider.up.load());
}

Provider& Payments::choose() {
  return random_.chance(0.65) ? providers_[0] : providers_[1];
}

void Payments::pay(Provider& provider, Plan plan) {
  PrometheusMetrics::increment_payment_requests(provider.name);
  const double amount = provider.prices[static_cast<std::size_t>(plan)];
  logger().info("payment started", {{"payment_system", provider.name},
                                    {"plan", plan_name(plan)},
                                    {"amount", amount},
                                    {"currency", provider.currency}});

  if (!provider.up.load()) {
    // The provider's API does not answer: the request fails at the client's connect
    // timeout. Timed by hand to show the explicit observe_* call beside track_time.
    const auto started = std::chrono::steady_clock::now();
    scheduler_.after(random_.uniform(1.0, 3.0), [this, &provider, started] {
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      PrometheusMetrics::observe_payment_processing_duration(provider.name, seconds);
      PrometheusMetrics::increment_errors("provider_unavailable", "payment");
      logger().error("payment failed", {{"payment_system", provider.name},
                                        {"reason", "provider_unavailable"},
                                        {"duration_seconds", seconds}});
      failed_.fetch_add(1);
    });
    return;
  }

  auto span = std::make_shared<Span>(
      PrometheusMetrics::track_time_async("payment", {{"payment_system", provider.name}}));
  const double latency = std::min(random_.lognormal(provider.median_seconds, provider.sigma), 45.0);
  const bool fails = random_.chance(provider.failure_rate);
  scheduler_.after(latency, [this, &provider, plan, span, fails] {
    span->finish();
    if (fails || !provider.up.load()) {  // an outage that began mid-payment fails it too
      const std::string reason = fails ? provider.failure : "provider_unavailable";
      PrometheusMetrics::increment_errors(reason, "payment");
      logger().error("payment failed", {{"payment_system", provider.name}, {"reason", reason}});
      failed_.fetch_add(1);
      provider_webhook(provider, "canceled");
      return;
    }
    PrometheusMetrics::increment_payment_success(provider.name);
    logger().info("payment succeeded", {{"payment_system", provider.name},
                                        {"plan", plan_name(plan)},
                                        {"amount", provider.prices[static_cast<std::size_t>(plan)]},
                                        {"currency", provider.currency}});
    succeeded_.fetch_add(1);
    business_.record_purchase(plan, provider.currency,
                              provider.prices[static_cast<std::size_t>(plan)],
                              random_.chance(kReferredShare));
    provider_webhook(provider, "succeeded");
    // Extend the user's access in the admin panel.
    panel_.call("/api/subscriptions", [](bool) {});
  });
}

void Payments::provider_webhook(Provider& provider, std::string_view outcome) {
  // The provider notifies the bot's HTTP endpoint; handling it is one quick DB update.
  const std::string endpoint = "/payments/" + provider.name + "/webhook";
  const double handling = random_.lognormal(0.012, 0.5);
  const bool bad_signature = random_.chance(0.002);
  scheduler_.after(handling, [endpoint, handling, bad_signature, outcome = std::string(outcome)] {
    PrometheusMetrics::observe_http_request_duration("POST", endpoint, handling);
    PrometheusMetrics::increment_http_requests("POST", endpoint, bad_signature ? 400 : 200);
    if (bad_signature) {
      logger().warning("provider webhook rejected: bad signature", {{"endpoint", endpoint}});
      PrometheusMetrics::increment_errors("invalid_webhook_signature", "payment");
    }
  });
}

double PanelApi::latency() {
  // Mostly ~90 ms; one call in a hundred hits a slow query on the panel side.
  if (random_.chance(0.01)) return random_.uniform(1.5, 3.0);
  return random_.lognormal(0.09, 0.5);
}

void PanelApi::call(std::string endpoint, std::function<void(bool ok)> done) {
  auto span = std::make_shared<Span>(
      PrometheusMetrics::track_time_async("panel_api", {{"endpoint", endpoint}}));
  const bool server_error = random_.chance(0.01);
  scheduler_.after(latency(), [span, server_error, endpoint, done = std::move(done)] {
    span->finish();
    if (server_error) {
      logger().error("panel API answered 500", {{"endpoint", endpoint}});
      PrometheusMetrics::increment_errors("panel_api_error", "panel");
    }
    done(!server_error);
  });
}

void PanelApi::sync_stats() {
  const auto started = std::chrono::steady_clock::now();
  scheduler_.after(latency(), [started] {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    CustomMetrics::observe_panel_api_response_time("/api/stats", seconds);
  });
}

}  // namespace demo
