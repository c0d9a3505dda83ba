#pragma once

// Metrics: the generic core (Registry, families, Counter/Gauge/Histogram), the exposition
// formats, the 2GETPRO catalog, timers, process metrics and the Pushgateway client.

#include "monitoring/catalog/catalog.hpp"
#include "monitoring/error.hpp"
#include "monitoring/metrics/callback_gauge.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/family.hpp"
#include "monitoring/metrics/info.hpp"
#include "monitoring/metrics/process_collector.hpp"
#include "monitoring/metrics/registry.hpp"
#include "monitoring/metrics/stateset.hpp"
#include "monitoring/push/pushgateway.hpp"

namespace monitoring {
using metrics::CustomMetrics;
using metrics::PrometheusMetrics;
}  // namespace monitoring
