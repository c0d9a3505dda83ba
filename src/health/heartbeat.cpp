#include "monitoring/health/heartbeat.hpp"

#include <algorithm>
#include <mutex>

#include "monitoring/error.hpp"

namespace monitoring::health {

Heartbeat::Heartbeat(std::string name, std::chrono::milliseconds max_age, Clock clock)
    : name_(std::move(name)),
      clock_(std::move(clock)),
      last_beat_ns_(now().time_since_epoch().count()),
      max_age_ms_(max_age.count()) {}

std::chrono::steady_clock::duration Heartbeat::age() const noexcept {
  const std::chrono::steady_clock::time_point last(
      std::chrono::steady_clock::duration(last_beat_ns_.load(std::memory_order_relaxed)));
  const auto age = now() - last;
  return age.count() > 0 ? age : std::chrono::steady_clock::duration::zero();
}

HeartbeatRegistry& HeartbeatRegistry::global() {
  // Never destroyed: application threads may beat during static destruction.
  static auto* registry = new HeartbeatRegistry();
  return *registry;
}

Heartbeat& HeartbeatRegistry::heartbeat(std::string_view name, std::chrono::milliseconds max_age) {
  if (name.empty()) throw Error("heartbeat name must not be empty");
  if (max_age.count() <= 0)
    throw Error("heartbeat '" + std::string(name) + "': max age must be positive, got " +
                std::to_string(max_age.count()) + " ms");
  {
    std::shared_lock lock(mutex_);
    if (auto it = beats_.find(name); it != beats_.end()) {
      Heartbeat& beat = *it->second;
      if (beat.max_age() != max_age) beat.set_max_age(max_age);
      beat.beat();
      return beat;
    }
  }
  std::unique_lock lock(mutex_);
  auto [it, inserted] = beats_.try_emplace(std::string(name), nullptr);
  if (inserted) it->second = std::make_unique<Heartbeat>(std::string(name), max_age, clock_);
  Heartbeat& beat = *it->second;
  beat.set_max_age(max_age);
  beat.beat();
  return beat;
}

bool HeartbeatRegistry::remove(std::string_view name) {
  std::unique_lock lock(mutex_);
  auto it = beats_.find(name);
  if (it == beats_.end()) return false;
  retired_.push_back(std::move(it->second));
  beats_.erase(it);
  return true;
}

std::vector<HeartbeatRegistry::Entry> HeartbeatRegistry::snapshot() const {
  std::vector<Entry> entries;
  std::shared_lock lock(mutex_);
  entries.reserve(beats_.size());
  for (const auto& [name, beat] : beats_) {
    Entry entry;
    entry.name = name;
    const auto age = beat->age();
    entry.age_seconds = std::chrono::duration<double>(age).count();
    entry.max_age_seconds = std::chrono::duration<double>(beat->max_age()).count();
    entry.stale = age > beat->max_age();
    entries.push_back(std::move(entry));
  }
  lock.unlock();
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return entries;
}

bool HeartbeatRegistry::any_stale() const {
  std::shared_lock lock(mutex_);
  for (const auto& entry : beats_)
    if (entry.second->stale()) return true;
  return false;
}

std::size_t HeartbeatRegistry::size() const {
  std::shared_lock lock(mutex_);
  return beats_.size();
}

Heartbeat& heartbeat(std::string_view name, std::chrono::milliseconds max_age) {
  return HeartbeatRegistry::global().heartbeat(name, max_age);
}

}  // namespace monitoring::health
