#pragma once

// Helpers shared by the health unit tests.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "monitoring/health.hpp"
#include "support/eventually.hpp"
#include "support/manual_clock.hpp"

namespace monitoring::testing {

/// Blocks checks until opened: a "hung dependency" the test releases before it ends, so no
/// thread outlives the test.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      opened_ = true;
    }
    cv_.notify_all();
  }
  /// True once opened, false after `timeout`.
  bool wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return opened_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool opened_ = false;
};

/// Waits until `count` parties arrived (or the timeout passes: false).
class Rendezvous {
 public:
  explicit Rendezvous(int count) : remaining_(count) {}
  bool arrive_and_wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (--remaining_ <= 0) {
      cv_.notify_all();
      return true;
    }
    return cv_.wait_for(lock, timeout, [&] { return remaining_ <= 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int remaining_;
};

inline const health::CheckOutcome* find_check(const std::vector<health::CheckOutcome>& checks,
                                              std::string_view name) {
  for (const auto& check : checks)
    if (check.name == name) return &check;
  return nullptr;
}

inline health::CheckOptions options(std::chrono::milliseconds timeout,
                                    std::chrono::milliseconds ttl, bool critical = true) {
  health::CheckOptions result;
  result.timeout = timeout;
  result.cache_ttl = ttl;
  result.critical = critical;
  return result;
}

/// Checker options for tests: metrics off unless a registry is given.
inline health::CheckerOptions quiet(metrics::Registry* registry = nullptr) {
  health::CheckerOptions result;
  result.export_metrics = registry != nullptr;
  result.registry = registry;
  return result;
}

}  // namespace monitoring::testing
