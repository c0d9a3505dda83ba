#pragma once

// The bot's business: subscriptions, visitors and buyers over time, revenue per currency.
// Publishes active_subscriptions, conversion_rate / churn_rate {daily, weekly},
// average_ltv {RUB, USD}, subscription_created_total and referral_revenue_total.

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

#include "random.hpp"
#include "runtime.hpp"

namespace demo {

/// Subscription plans the bot sells.
enum class Plan { kMonth, kQuarter, kYear };
std::string_view plan_name(Plan plan) noexcept;

/// What users and subscriptions did, bucketed by simulated hour.
class Business {
 public:
  Business(const SimClock& clock, Random& random);

  /// A user sent /start (a visitor, for the conversion rate).
  void record_visitor();
  /// A paid subscription. `referred`: the buyer came through a referral link.
  void record_purchase(Plan plan, std::string_view currency, double price, bool referred);
  /// Lets subscriptions lapse for `real_seconds` of simulated time (daily hazard ~2%).
  void expire(double real_seconds);
  /// Recomputes the rates and sets every business gauge.
  void publish();

  long active_subscriptions() const;

 private:
  struct Hour {
    double visitors = 0;
    double buyers = 0;
    double churned = 0;
    double subscriptions_at_start = 0;
  };
  struct Totals {
    double revenue = 0;
    double customers = 0;
  };

  void rotate_locked();
  void publish_period_locked(std::string_view period, std::size_t hours);

  const SimClock& clock_;
  Random& random_;
  mutable std::mutex mutex_;
  long subscriptions_;
  double expiry_carry_ = 0;   // fractional expirations not yet drawn
  std::deque<Hour> history_;  // completed simulated hours, newest last (≤ 7 days)
  Hour current_;              // the simulated hour in progress
  long current_index_ = 0;    // its number since start
  Totals rub_, usd_;
};

}  // namespace demo
