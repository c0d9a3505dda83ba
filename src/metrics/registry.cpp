#include "monitoring/metrics/registry.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "monitoring/error.hpp"
#include "monitoring/metrics/callback_gauge.hpp"
#include "monitoring/metrics/detail/cells.hpp"
#include "monitoring/metrics/info.hpp"
#include "monitoring/metrics/stateset.hpp"

namespace monitoring::metrics {

namespace {

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kUntyped:
      return "untyped";
    case MetricType::kInfo:
      return "info";
    case MetricType::kStateSet:
      return "stateset";
  }
  return "untyped";
}

// Shown in errors: printable, bounded, so a garbage name cannot flood a log line.
std::string quoted(std::string_view value) {
  std::string out = "'";
  for (char c : value.substr(0, 200)) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      out += '?';
    else
      out += c;
  }
  if (value.size() > 200) out += "...";
  return out + "'";
}

bool name_char(char c, bool first, bool colon_allowed) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon_allowed && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

void check_buckets(const std::string& name, std::vector<double>& buckets) {
  if (!buckets.empty() && buckets.back() == INFINITY) buckets.pop_back();
  if (buckets.empty())
    throw MetricError("histogram " + quoted(name) + " needs at least one finite bucket");
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    if (!std::isfinite(buckets[i]))
      throw MetricError("histogram " + quoted(name) +
                        " has a non-finite bucket bound at position " + std::to_string(i));
    if (i > 0 && !(buckets[i] > buckets[i - 1]))
      throw MetricError("histogram " + quoted(name) +
                        " buckets must be strictly increasing; bound " + std::to_string(i) + " (" +
                        std::to_string(buckets[i]) + ") is not above the previous one");
  }
}

// The sample and family names a family occupies in either exposition format. Two families
// whose sets meet would produce an invalid scrape: e.g. counter "x_total" and gauge "x" are
// both family "x" in OpenMetrics, and gauge "h_count" duplicates histogram "h"'s count.
std::vector<std::string> exposed_names(std::string_view name, MetricType type) {
  std::string base(name);
  switch (type) {
    case MetricType::kCounter:
      if (base.ends_with("_total")) base.resize(base.size() - 6);
      return {base, base + "_total", base + "_created"};
    case MetricType::kHistogram:
      return {base, base + "_bucket", base + "_sum", base + "_count", base + "_created"};
    case MetricType::kInfo:
      return {base, base + "_info"};
    default:
      return {base};
  }
}

}  // namespace

void validate_metric_name(std::string_view name) {
  if (name.empty()) throw MetricError("metric name must not be empty");
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, true))
      throw MetricError("invalid metric name " + quoted(name) +
                        ": must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  if (name.starts_with("__"))
    throw MetricError("invalid metric name " + quoted(name) +
                      ": names starting with '__' are reserved");
}

void validate_label_name(std::string_view name) {
  if (name.empty()) throw MetricError("label name must not be empty");
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0, false))
      throw MetricError("invalid label name " + quoted(name) +
                        ": must match [a-zA-Z_][a-zA-Z0-9_]*");
  }
  if (name.starts_with("__"))
    throw MetricError("invalid label name " + quoted(name) +
                      ": names starting with '__' are reserved");
}

Registry::Registry() = default;
Registry::~Registry() = default;

Registry& Registry::default_registry() {
  // Leaked on purpose: metrics may be updated from threads or destructors running during exit.
  static Registry* registry = new Registry();
  return *registry;
}

FamilyBase& Registry::find_or_add(std::string name, std::string help, MetricType type,
                                  std::vector<std::string> labels, std::vector<double> buckets) {
  validate_metric_name(name);
  std::set<std::string_view> seen;
  for (const auto& label : labels) {
    validate_label_name(label);
    if (type == MetricType::kHistogram && label == "le")
      throw MetricError("histogram " + quoted(name) +
                        " cannot use the label name 'le'; it is reserved for buckets");
    if (!seen.insert(label).second)
      throw MetricError("metric " + quoted(name) + " repeats the label name " + quoted(label));
  }
  if (type == MetricType::kHistogram) check_buckets(name, buckets);
  // OpenMetrics names a counter family without its "_total": this one would have no name.
  if (type == MetricType::kCounter && name == "_total")
    throw MetricError("counter " + quoted(name) +
                      " has an empty OpenMetrics family name (the name without _total)");

  std::lock_guard lock(mutex_);
  for (auto& entry : entries_) {
    FamilyBase& family = *entry.family;
    if (family.name() != name) continue;
    if (family.type() != type)
      throw MetricError("metric " + quoted(name) + " is already registered as a " +
                        type_name(family.type()) + ", not a " + type_name(type));
    if (type == MetricType::kGauge && dynamic_cast<const Family<Gauge>*>(&family) == nullptr)
      throw MetricError("metric " + quoted(name) +
                        " is already registered as a callback gauge, not a plain gauge");
    if (family.label_names() != labels)
      throw MetricError("metric " + quoted(name) +
                        " is already registered with different label names");
    if (type == MetricType::kHistogram && entry.buckets != buckets)
      throw MetricError("histogram " + quoted(name) +
                        " is already registered with different buckets");
    return family;
  }
  check_no_clash_locked(name, type);
  Entry entry;
  switch (type) {
    case MetricType::kCounter:
      entry.family = std::make_unique<Family<Counter>>(std::move(name), std::move(help), type,
                                                       std::move(labels), default_limit_);
      break;
    case MetricType::kGauge:
      entry.family = std::make_unique<Family<Gauge>>(std::move(name), std::move(help), type,
                                                     std::move(labels), default_limit_);
      break;
    default: {
      entry.buckets = std::move(buckets);
      Histogram::Shape shape{entry.buckets.data(),
                             static_cast<std::uint32_t>(entry.buckets.size())};
      entry.family = std::make_unique<Family<Histogram>>(std::move(name), std::move(help), type,
                                                         std::move(labels), default_limit_, shape);
    }
  }
  entries_.push_back(std::move(entry));
  return *entries_.back().family;
}

Family<Counter>& Registry::counter(std::string name, std::string help,
                                   std::vector<std::string> label_names) {
  return static_cast<Family<Counter>&>(find_or_add(
      std::move(name), std::move(help), MetricType::kCounter, std::move(label_names), {}));
}

Family<Gauge>& Registry::gauge(std::string name, std::string help,
                               std::vector<std::string> label_names) {
  return static_cast<Family<Gauge>&>(find_or_add(std::move(name), std::move(help),
                                                 MetricType::kGauge, std::move(label_names), {}));
}

Family<Histogram>& Registry::histogram(std::string name, std::string help,
                                       std::vector<std::string> label_names,
                                       std::vector<double> buckets) {
  return static_cast<Family<Histogram>&>(find_or_add(std::move(name), std::move(help),
                                                     MetricType::kHistogram, std::move(label_names),
                                                     std::move(buckets)));
}

void Registry::check_no_clash_locked(const std::string& name, MetricType type) const {
  const std::vector<std::string> claimed = exposed_names(name, type);
  for (const auto& entry : entries_) {
    const FamilyBase& family = *entry.family;
    for (const std::string& taken : exposed_names(family.name(), family.type())) {
      if (std::find(claimed.begin(), claimed.end(), taken) != claimed.end())
        throw MetricError("metric " + quoted(name) + " clashes with the " +
                          type_name(family.type()) + " " + quoted(family.name()) +
                          ": both would expose " + quoted(taken));
    }
  }
}

FamilyBase& Registry::adopt(std::unique_ptr<FamilyBase> family,
                            const std::function<bool(const FamilyBase&)>& same) {
  std::lock_guard lock(mutex_);
  for (auto& entry : entries_) {
    FamilyBase& existing = *entry.family;
    if (existing.name() != family->name()) continue;
    if (existing.type() != family->type() || !same(existing))
      throw MetricError("metric " + quoted(family->name()) + " is already registered as a " +
                        type_name(existing.type()) +
                        " with a different definition (type, labels or states)");
    return existing;
  }
  check_no_clash_locked(family->name(), family->type());
  entries_.push_back(Entry{std::move(family), {}});
  return *entries_.back().family;
}

Info& Registry::info(std::string name, std::string help) {
  validate_metric_name(name);
  if (name.ends_with("_info"))
    throw MetricError("info metric " + quoted(name) +
                      " must be named without its _info suffix; the exposition adds it");
  std::unique_ptr<Info> family(new Info(std::move(name), std::move(help), default_limit_));
  return static_cast<Info&>(adopt(std::move(family), [](const FamilyBase& existing) {
    return dynamic_cast<const Info*>(&existing) != nullptr;
  }));
}

StateSet& Registry::state_set(std::string name, std::string help, std::vector<std::string> states) {
  validate_metric_name(name);
  if (name.find(':') != std::string::npos)
    throw MetricError("state set " + quoted(name) +
                      " cannot contain ':': its name is also the state label's name");
  if (states.empty()) throw MetricError("state set " + quoted(name) + " needs at least one state");
  std::set<std::string_view> seen;
  for (const auto& state : states) {
    if (state.empty()) throw MetricError("state set " + quoted(name) + " has an empty state name");
    if (!seen.insert(state).second)
      throw MetricError("state set " + quoted(name) + " repeats the state " + quoted(state));
  }
  std::unique_ptr<StateSet> family(
      new StateSet(std::move(name), std::move(help), std::move(states), default_limit_));
  const std::vector<std::string>& wanted = family->states();
  return static_cast<StateSet&>(adopt(std::move(family), [&wanted](const FamilyBase& existing) {
    const auto* other = dynamic_cast<const StateSet*>(&existing);
    return other != nullptr && other->states() == wanted;
  }));
}

CallbackGauge& Registry::callback_gauge(std::string name, std::string help,
                                        std::vector<std::string> label_names) {
  validate_metric_name(name);
  std::set<std::string_view> seen;
  for (const auto& label : label_names) {
    validate_label_name(label);
    if (!seen.insert(label).second)
      throw MetricError("metric " + quoted(name) + " repeats the label name " + quoted(label));
  }
  std::unique_ptr<CallbackGauge> family(
      new CallbackGauge(std::move(name), std::move(help), std::move(label_names), default_limit_));
  const std::vector<std::string>& wanted = family->label_names();
  return static_cast<CallbackGauge&>(
      adopt(std::move(family), [&wanted](const FamilyBase& existing) {
        return dynamic_cast<const CallbackGauge*>(&existing) != nullptr &&
               existing.label_names() == wanted;
      }));
}

void Registry::add_collector(std::shared_ptr<const Collector> collector) {
  if (!collector) throw MetricError("collector must not be null");
  std::lock_guard lock(mutex_);
  // Adding the same object twice would expose its families twice (an invalid scrape).
  if (std::find(collectors_.begin(), collectors_.end(), collector) != collectors_.end()) return;
  collectors_.push_back(std::move(collector));
}

void Registry::set_default_series_limit(std::size_t limit) {
  if (limit == 0) throw MetricError("default series limit must be at least 1");
  std::lock_guard lock(mutex_);
  default_limit_ = limit;
}

void Registry::collect(MetricWriter& writer) const {
  std::vector<const FamilyBase*> families;
  std::vector<std::shared_ptr<const Collector>> collectors;
  {
    std::lock_guard lock(mutex_);
    families.reserve(entries_.size());
    for (const auto& entry : entries_) families.push_back(entry.family.get());
    collectors = collectors_;
  }
  {
    // One lock for every series of the scrape, released around families that call
    // application code (which may itself need the lock to update a metric).
    std::optional<detail::CellSpace::Reader> reader;
    for (const FamilyBase* family : families) {
      if (family->runs_user_code())
        reader.reset();
      else if (!reader)
        reader.emplace();
      family->collect(writer);
    }
  }
  for (const auto& collector : collectors) collector->collect(writer);
}

std::size_t Registry::family_count() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

namespace detail {

void count_refused_series(std::string_view family) {
  static Family<Counter>& refused = Registry::default_registry().counter(
      "monitoring_metric_series_refused_total",
      "New label sets refused because their metric family reached its series limit.", {"metric"});
  refused.labels(family).inc();
}

}  // namespace detail

}  // namespace monitoring::metrics
