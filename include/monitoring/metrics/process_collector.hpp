#pragma once

#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {

/// The standard process metrics, read from /proc at scrape time: process_cpu_seconds_total,
/// process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
/// process_max_fds, process_start_time_seconds, process_threads. Names and meanings match
/// the official Prometheus clients, so existing dashboards work.
class ProcessCollector final : public Collector {
 public:
  void collect(MetricWriter& writer) const override;
};

/// Adds a ProcessCollector to `registry` once; later calls do nothing.
void register_process_collector(Registry& registry = Registry::default_registry());

}  // namespace monitoring::metrics
