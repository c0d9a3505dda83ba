#include "monitoring/metrics/callback_gauge.hpp"

#include <algorithm>
#include <cmath>

#include "monitoring/error.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {

namespace {

void count_callback_error(std::string_view family) {
  static Family<Counter>& errors = Registry::default_registry().counter(
      "monitoring_metric_callback_errors_total",
      "Scrape-time gauge functions that threw or returned a non-finite value; their series "
      "was left out of that scrape.",
      {"metric"});
  errors.labels(family).inc();
}

std::vector<std::string> stored_values(std::span<const std::string_view> values) {
  std::vector<std::string> stored;
  stored.reserve(values.size());
  for (std::string_view value : values)
    stored.push_back(detail::is_utf8(value) ? std::string(value) : detail::repair_utf8(value));
  return stored;
}

}  // namespace

CallbackGauge::CallbackGauge(std::string name, std::string help, std::vector<std::string> labels,
                             std::size_t limit)
    : FamilyBase(std::move(name), std::move(help), MetricType::kGauge, std::move(labels), limit) {}

void CallbackGauge::bind(std::span<const std::string_view> values, Function fn) {
  if (!fn) throw MetricError("callback gauge '" + name_ + "' needs a function to bind");
  if (values.size() != label_names_.size())
    detail::throw_label_count(name_, label_names_.size(), values.size());
  std::vector<std::string> stored = stored_values(values);
  auto shared = std::make_shared<const Function>(std::move(fn));
  std::lock_guard lock(mutex_);
  for (auto& binding : bindings_) {
    if (binding.values == stored) {
      binding.fn = std::move(shared);
      return;
    }
  }
  if (bindings_.size() >= limit_)
    throw MetricError("callback gauge '" + name_ + "' already has " + std::to_string(limit_) +
                      " series (its series limit)");
  bindings_.push_back(Binding{std::move(stored), std::move(shared)});
}

bool CallbackGauge::unbind(std::span<const std::string_view> values) {
  const std::vector<std::string> stored = stored_values(values);
  {
    std::lock_guard lock(mutex_);
    const auto it = std::find_if(bindings_.begin(), bindings_.end(),
                                 [&](const Binding& binding) { return binding.values == stored; });
    if (it == bindings_.end()) return false;
    bindings_.erase(it);
  }
  // A scrape that copied the binding before the erase may still be calling it: wait for it,
  // so the caller may destroy what the function reads once unbind returns. Not while holding
  // mutex_: a scrape takes calls_mutex_ first and then mutex_ (ThreadSanitizer found the
  // inversion).
  std::lock_guard calls(calls_mutex_);
  return true;
}

std::size_t CallbackGauge::size() const {
  std::lock_guard lock(mutex_);
  return bindings_.size();
}

void CallbackGauge::collect(MetricWriter& writer) const {
  writer.family(name_, help_, type_);
  std::lock_guard calls(calls_mutex_);  // unbind() waits for the calls below
  std::vector<Binding> bindings;
  {
    // Functions run without the bindings' lock: one may bind, or be slow.
    std::lock_guard lock(mutex_);
    bindings = bindings_;
  }
  for (const Binding& binding : bindings) {
    double value;
    try {
      value = (*binding.fn)();
    } catch (...) {
      count_callback_error(name_);
      continue;
    }
    if (!std::isfinite(value)) {
      count_callback_error(name_);
      continue;
    }
    writer.sample({}, label_names_, binding.values, value);
  }
}

}  // namespace monitoring::metrics
