#pragma once

// A clock tests move by hand: time-driven state (heartbeat ages, cache TTLs) changes exactly
// when the test says so, not when the machine gets around to it.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>

namespace monitoring::testing {

class ManualClock {
 public:
  using time_point = std::chrono::steady_clock::time_point;

  /// Starts at the real steady time, so values look like the real clock's.
  ManualClock()
      : now_(std::make_shared<std::atomic<time_point::rep>>(
            std::chrono::steady_clock::now().time_since_epoch().count())) {}

  time_point now() const noexcept {
    return time_point(time_point::duration(now_->load(std::memory_order_acquire)));
  }
  void advance(std::chrono::steady_clock::duration by) noexcept {
    now_->fetch_add(by.count(), std::memory_order_acq_rel);
  }
  /// A function object reading this clock; it shares the state, so it may outlive the clock.
  std::function<time_point()> function() const {
    return [now = now_] { return time_point(time_point::duration(now->load())); };
  }

 private:
  std::shared_ptr<std::atomic<time_point::rep>> now_;
};

}  // namespace monitoring::testing
