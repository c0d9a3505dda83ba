#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "monitoring/metrics/family.hpp"

namespace monitoring::metrics {

/// A fixed set of named states, each on or off: `name{name="state"} 1|0`, one sample per
/// state, so alerting can ask "which state" without decoding magic numbers. OpenMetrics type
/// `stateset`; in the text format a gauge with the state label. Used as an enum (exactly one
/// state on, set()) or as independent flags (set_state()). Register with Registry::state_set().
class StateSet final : public FamilyBase {
 public:
  /// Turns `state` on and every other state off, in one step for scrapes (Python
  /// prometheus_client's Enum.state). Throws MetricError naming the value and the allowed
  /// states when `state` is not one of them.
  void set(std::string_view state);
  /// Turns one state on or off and leaves the others. Throws like set().
  void set_state(std::string_view state, bool on);
  /// Whether `state` is on. Throws like set().
  bool is_set(std::string_view state) const;
  const std::vector<std::string>& states() const noexcept { return states_; }

  void collect(MetricWriter& writer) const override;
  std::size_t size() const override { return 1; }

 private:
  friend class Registry;
  StateSet(std::string name, std::string help, std::vector<std::string> states, std::size_t limit);
  std::size_t index_of(std::string_view state) const;

  std::vector<std::string> states_;
  mutable std::mutex mutex_;
  std::vector<bool> on_;
};

}  // namespace monitoring::metrics
