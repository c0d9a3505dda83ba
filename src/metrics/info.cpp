#include "monitoring/metrics/info.hpp"

#include <algorithm>

#include "monitoring/error.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {

Info::Info(std::string name, std::string help, std::size_t limit)
    : FamilyBase(std::move(name), std::move(help), MetricType::kInfo, {}, limit) {}

void Info::set(Pairs pairs) {
  std::vector<std::string> names;
  std::vector<std::string> values;
  names.reserve(pairs.size());
  values.reserve(pairs.size());
  for (auto& [label, value] : pairs) {
    validate_label_name(label);
    // Scrapers treat these as a histogram's bucket bound and a summary's quantile.
    if (label == "le" || label == "quantile")
      throw MetricError("info metric '" + name_ + "' cannot use the label name '" + label +
                        "': it is reserved");
    if (std::find(names.begin(), names.end(), label) != names.end())
      throw MetricError("info metric '" + name_ + "' repeats the label name '" + label + "'");
    if (value.empty())
      throw MetricError("info metric '" + name_ + "' has an empty value for '" + label +
                        "' (Prometheus would drop the label)");
    names.push_back(std::move(label));
    values.push_back(std::move(value));
  }
  std::lock_guard lock(mutex_);
  names_ = std::move(names);
  values_ = std::move(values);
}

Info::Pairs Info::pairs() const {
  std::lock_guard lock(mutex_);
  Pairs pairs;
  pairs.reserve(names_.size());
  for (std::size_t i = 0; i < names_.size(); ++i) pairs.emplace_back(names_[i], values_[i]);
  return pairs;
}

void Info::collect(MetricWriter& writer) const {
  writer.family(name_, help_, type_);
  std::lock_guard lock(mutex_);
  writer.sample({}, names_, values_, 1);
}

}  // namespace monitoring::metrics
