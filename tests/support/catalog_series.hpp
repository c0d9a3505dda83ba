#pragma once

// One sample name per family of the metric catalog (names and labels are a contract): what a test
// looks for to know that the demo drove every catalog metric.

#include <string>
#include <vector>

namespace monitoring::testing {

inline const std::vector<std::string>& catalog_series() {
  static const std::vector<std::string> names = {"http_requests_total",
                                                 "bot_messages_total",
                                                 "errors_total",
                                                 "payment_requests_total",
                                                 "payment_success_total",
                                                 "subscription_created_total",
                                                 "referral_revenue_total",
                                                 "http_request_duration_seconds_count",
                                                 "bot_handler_duration_seconds_count",
                                                 "payment_processing_duration_seconds_count",
                                                 "panel_api_response_time_count",
                                                 "active_users",
                                                 "active_subscriptions",
                                                 "database_connections",
                                                 "conversion_rate",
                                                 "churn_rate",
                                                 "average_ltv",
                                                 "payment_system_availability"};
  return names;
}

}  // namespace monitoring::testing
