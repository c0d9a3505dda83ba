#pragma once

// Payment providers (YooKassa in RUB, CryptoBot's cryptopay in USD) with realistic latency,
// declines, and short outages now and then.

#include <array>
#include <atomic>
#include <functional>
#include <string>
#include <string_view>

#include "business.hpp"
#include "random.hpp"
#include "runtime.hpp"

namespace demo {

class PanelApi;

/// One payment system and how it behaves.
struct Provider {
  std::string name;              ///< payment_system label
  std::string currency;          ///< what it charges in
  double median_seconds;         ///< typical time from invoice to confirmation
  double sigma;                  ///< spread of the (log-normal) latency
  double failure_rate;           ///< declined / expired share while the provider is up
  std::string failure;           ///< errors_total error_type of such a failure
  std::array<double, 3> prices;  ///< month, quarter, year
  std::atomic<bool> up{true};
};

/// Takes payments, runs the outage schedule and publishes payment_system_availability.
class Payments {
 public:
  Payments(Scheduler& scheduler, const SimClock& clock, Random& random, Business& business,
           PanelApi& panel);

  /// Starts the outage schedules and the availability refresh.
  void start();
  /// The provider a user picks at checkout (most pay by card).
  Provider& choose();
  /// Runs one payment: request, latency, success or failure, then the provider's webhook.
  void pay(Provider& provider, Plan plan);

  const std::array<Provider, 2>& providers() const noexcept { return providers_; }
  long succeeded() const noexcept { return succeeded_.load(); }
  long failed() const noexcept { return failed_.load(); }

 private:
  void schedule_outage(Provider& provider, double delay_seconds);
  void provider_webhook(Provider& provider, std::string_view outcome);
  void publish_availability();
  void publish_availability(const Provider& provider);

  Scheduler& scheduler_;
  const SimClock& clock_;
  Random& random_;
  Business& business_;
  PanelApi& panel_;
  std::array<Provider, 2> providers_;
  std::atomic<long> succeeded_{0};
  std::atomic<long> failed_{0};
};

/// The admin panel's HTTP API (users, plans, subscriptions), with its latency and rare 5xx.
class PanelApi {
 public:
  PanelApi(Scheduler& scheduler, Random& random) : scheduler_(scheduler), random_(random) {}

  /// Calls `endpoint`, timed into panel_api_response_time{endpoint}; `done(ok)` afterwards.
  void call(std::string endpoint, std::function<void(bool ok)> done);
  /// The periodic stats sync, measured by hand and reported with
  /// CustomMetrics::observe_panel_api_response_time.
  void sync_stats();

 private:
  double latency();

  Scheduler& scheduler_;
  Random& random_;
};

}  // namespace demo
