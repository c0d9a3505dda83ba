#pragma once

// Heartbeats: the application's loops prove they are alive; /live turns 503 when one stalls.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "monitoring/health/clock.hpp"

namespace monitoring::health {

/// One named heartbeat. `beat()` is a single relaxed atomic store, cheap enough for every
/// iteration of a hot loop. References stay valid for the life of the registry.
class Heartbeat {
 public:
  /// `clock` (empty: std::chrono::steady_clock::now) measures the beat's age.
  Heartbeat(std::string name, std::chrono::milliseconds max_age, Clock clock = {});
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  void beat() noexcept {
    last_beat_ns_.store(now().time_since_epoch().count(), std::memory_order_relaxed);
  }
  const std::string& name() const noexcept { return name_; }
  std::chrono::milliseconds max_age() const noexcept {
    return std::chrono::milliseconds(max_age_ms_.load(std::memory_order_relaxed));
  }
  void set_max_age(std::chrono::milliseconds max_age) noexcept {
    max_age_ms_.store(max_age.count(), std::memory_order_relaxed);
  }
  /// Time since the last beat.
  std::chrono::steady_clock::duration age() const noexcept;
  /// The last beat is older than max_age.
  bool stale() const noexcept { return age() > max_age(); }

 private:
  std::chrono::steady_clock::time_point now() const noexcept {
    return clock_ ? clock_() : std::chrono::steady_clock::now();
  }

  std::string name_;
  Clock clock_;
  std::atomic<std::chrono::steady_clock::rep> last_beat_ns_;
  std::atomic<std::chrono::milliseconds::rep> max_age_ms_;
};

/// The heartbeats /live looks at. One process-wide instance (global()) backs
/// monitoring::heartbeat(); tests may make their own.
class HeartbeatRegistry {
 public:
  /// A heartbeat's state as /live reports it.
  struct Entry {
    std::string name;
    double age_seconds = 0;
    double max_age_seconds = 0;
    bool stale = false;
  };

  HeartbeatRegistry() = default;
  /// Heartbeats of this registry measure their age on `clock`.
  explicit HeartbeatRegistry(Clock clock) : clock_(std::move(clock)) {}
  HeartbeatRegistry(const HeartbeatRegistry&) = delete;
  HeartbeatRegistry& operator=(const HeartbeatRegistry&) = delete;

  static HeartbeatRegistry& global();

  /// Registers `name` on first use (otherwise updates its max age) and beats it. Throws
  /// monitoring::Error for an empty name or a non-positive max age.
  Heartbeat& heartbeat(std::string_view name, std::chrono::milliseconds max_age);
  /// Stops watching `name` (a loop that ended on purpose); false when unknown. References to
  /// it stay valid but no longer count.
  bool remove(std::string_view name);

  std::vector<Entry> snapshot() const;
  bool any_stale() const;
  std::size_t size() const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept {
      return std::hash<std::string_view>{}(text);
    }
  };
  Clock clock_;  // empty: std::chrono::steady_clock::now
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::unique_ptr<Heartbeat>, Hash, std::equal_to<>> beats_;
  std::vector<std::unique_ptr<Heartbeat>> retired_;  // removed, still referenced by callers
};

/// Beats the process-wide heartbeat `name`, registering it on first use with `max_age`
/// (default 60 s; a later call with another max age updates it). Keep the returned reference
/// and call `beat()` on it in tight loops to skip the name lookup.
Heartbeat& heartbeat(std::string_view name,
                     std::chrono::milliseconds max_age = std::chrono::seconds(60));

}  // namespace monitoring::health
