#include "business.hpp"

#include <algorithm>
#include <cmath>

namespace demo {
namespace {

using monitoring::CustomMetrics;
using monitoring::PrometheusMetrics;

constexpr std::size_t kHoursPerDay = 24;
constexpr std::size_t kHoursPerWeek = 7 * kHoursPerDay;
constexpr double kDailyChurnHazard = 0.02;  // share of subscribers lost per day
constexpr double kVisitorsPerHour = 31;     // /start per simulated hour, daily average
constexpr double kConversion = 0.10;        // buyers per visitor
constexpr double kNewCustomerShare = 0.7;   // the rest are renewals of known customers
constexpr long kInitialSubscriptions = 1800;

}  // namespace

std::string_view plan_name(Plan plan) noexcept {
  switch (plan) {
    case Plan::kMonth:
      return "month";
    case Plan::kQuarter:
      return "quarter";
    case Plan::kYear:
      return "year";
  }
  return "month";
}

Business::Business(const SimClock& clock, Random& random)
    : clock_(clock), random_(random), subscriptions_(kInitialSubscriptions) {
  // A week of history, so the weekly rates mean something from the first scrape.
  double subscriptions = static_cast<double>(subscriptions_);
  std::deque<Hour> past;
  for (std::size_t ago = 1; ago <= kHoursPerWeek; ++ago) {
    const double phase = std::fmod(1.0 - static_cast<double>(ago) / kHoursPerDay + 7.0, 1.0);
    Hour hour;
    hour.visitors =
        std::max(0.0, kVisitorsPerHour * diurnal(phase) / 0.6 * random_.uniform(0.8, 1.2));
    hour.buyers = std::max(0.0, hour.visitors * random_.normal(kConversion, 0.02));
    hour.churned =
        std::max(0.0, subscriptions * kDailyChurnHazard / kHoursPerDay * random_.uniform(0.5, 1.5));
    subscriptions = subscriptions - hour.buyers + hour.churned;  // walking back in time
    hour.subscriptions_at_start = subscriptions;
    past.push_front(hour);
  }
  history_ = std::move(past);
  current_.subscriptions_at_start = static_cast<double>(subscriptions_);
  rub_ = {1100 * 870.0, 1100};
  usd_ = {240 * 11.5, 240};
}

void Business::rotate_locked() {
  const auto index = static_cast<long>(std::floor(clock_.sim_days() * kHoursPerDay));
  while (current_index_ < index) {
    history_.push_back(current_);
    if (history_.size() > kHoursPerWeek) history_.pop_front();
    current_ = Hour{};
    current_.subscriptions_at_start = static_cast<double>(subscriptions_);
    ++current_index_;
  }
}

void Business::record_visitor() {
  std::lock_guard lock(mutex_);
  rotate_locked();
  current_.visitors += 1;
}

void Business::record_purchase(Plan plan, std::string_view currency, double price, bool referred) {
  PrometheusMetrics::increment_subscription_created(plan_name(plan));
  if (referred) CustomMetrics::increment_referral_revenue(currency, price);
  const bool new_customer = random_.chance(kNewCustomerShare);
  std::lock_guard lock(mutex_);
  rotate_locked();
  current_.buyers += 1;
  ++subscriptions_;
  Totals& totals = currency == "USD" ? usd_ : rub_;
  totals.revenue += price;
  if (new_customer) totals.customers += 1;
}

void Business::expire(double real_seconds) {
  std::lock_guard lock(mutex_);
  rotate_locked();
  // Expected lapses in this slice of simulated time; whole ones are drawn, the rest carried.
  expiry_carry_ += static_cast<double>(subscriptions_) * kDailyChurnHazard * real_seconds *
                   clock_.speed() / kRealSecondsPerDay;
  const long lapsed = std::min<long>(random_.poisson(expiry_carry_), subscriptions_);
  expiry_carry_ = 0;
  subscriptions_ -= lapsed;
  current_.churned += static_cast<double>(lapsed);
}

void Business::publish_period_locked(std::string_view period, std::size_t hours) {
  double visitors = current_.visitors, buyers = current_.buyers, churned = current_.churned;
  double subscriptions_at_start = current_.subscriptions_at_start;
  const std::size_t past = std::min(hours - 1, history_.size());
  for (std::size_t i = history_.size() - past; i < history_.size(); ++i) {
    visitors += history_[i].visitors;
    buyers += history_[i].buyers;
    churned += history_[i].churned;
  }
  if (past > 0) subscriptions_at_start = history_[history_.size() - past].subscriptions_at_start;
  if (visitors > 0) CustomMetrics::set_conversion_rate(period, 100.0 * buyers / visitors);
  if (subscriptions_at_start > 0)
    CustomMetrics::set_churn_rate(period, 100.0 * churned / subscriptions_at_start);
}

void Business::publish() {
  std::lock_guard lock(mutex_);
  rotate_locked();
  publish_period_locked("daily", kHoursPerDay);
  publish_period_locked("weekly", kHoursPerWeek);
  CustomMetrics::set_average_ltv("RUB", rub_.revenue / rub_.customers);
  CustomMetrics::set_average_ltv("USD", usd_.revenue / usd_.customers);
  PrometheusMetrics::set_active_subscriptions(static_cast<double>(subscriptions_));
}

long Business::active_subscriptions() const {
  std::lock_guard lock(mutex_);
  return subscriptions_;
}

}  // namespace demo
