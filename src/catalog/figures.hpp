#pragma once

// Raw totals of the catalog's key families, read for the status page's charts.

#include <map>
#include <string>
#include <vector>

namespace monitoring::metrics::detail {

/// Cumulative totals since the start of the process; the status page turns two readings into
/// rates and ratios.
struct CatalogFigures {
  double bot_messages = 0;  ///< bot_messages_total over every message_type
  double errors = 0;        ///< errors_total over every error_type and module
  /// bot_handler_duration_seconds over every handler: the bucket bounds and the count in each
  /// bucket (not cumulative), the last entry being +Inf.
  std::vector<double> handler_bounds;
  std::vector<double> handler_counts;
  /// payment_system -> {payment_requests_total, payment_success_total}
  std::map<std::string, std::pair<double, double>> payments;
};

CatalogFigures read_catalog_figures();

}  // namespace monitoring::metrics::detail
