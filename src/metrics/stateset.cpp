#include "monitoring/metrics/stateset.hpp"

#include "monitoring/error.hpp"

namespace monitoring::metrics {

StateSet::StateSet(std::string name, std::string help, std::vector<std::string> states,
                   std::size_t limit)
    : FamilyBase(std::move(name), std::move(help), MetricType::kStateSet, {}, limit),
      states_(std::move(states)),
      on_(states_.size(), false) {}

std::size_t StateSet::index_of(std::string_view state) const {
  for (std::size_t i = 0; i < states_.size(); ++i)
    if (states_[i] == state) return i;
  std::string allowed;
  for (const auto& known : states_) {
    if (!allowed.empty()) allowed += ", ";
    allowed += "'" + known + "'";
  }
  throw MetricError("state set '" + name_ + "' has no state '" + std::string(state.substr(0, 200)) +
                    "'; allowed: " + allowed);
}

void StateSet::set(std::string_view state) {
  const std::size_t index = index_of(state);
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < on_.size(); ++i) on_[i] = i == index;
}

void StateSet::set_state(std::string_view state, bool on) {
  const std::size_t index = index_of(state);
  std::lock_guard lock(mutex_);
  on_[index] = on;
}

bool StateSet::is_set(std::string_view state) const {
  const std::size_t index = index_of(state);
  std::lock_guard lock(mutex_);
  return on_[index];
}

void StateSet::collect(MetricWriter& writer) const {
  writer.family(name_, help_, type_);
  std::vector<bool> on;
  {
    std::lock_guard lock(mutex_);
    on = on_;
  }
  // The state label is named after the family (OpenMetrics' stateset convention).
  const std::span<const std::string> label(&name_, 1);
  for (std::size_t i = 0; i < states_.size(); ++i)
    writer.sample({}, label, std::span<const std::string>(&states_[i], 1), on[i] ? 1 : 0);
}

}  // namespace monitoring::metrics
