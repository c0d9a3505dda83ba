#pragma once

// The simulation's clock, timer scheduling and asynchronous timings.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cmath>
#include <memory>
#include <monitoring/monitoring.hpp>
#include <utility>

namespace demo {

/// Real seconds one simulated day lasts at DEMO_SPEED=1: ten minutes show a whole daily cycle.
inline constexpr double kRealSecondsPerDay = 600;

/// Relative activity over a day (`phase` 0 = midnight): about 0.2 at 03:00, 1.0 at 15:00.
inline double diurnal(double phase) noexcept {
  constexpr double kTwoPi = 6.283185307179586;
  return 0.6 + 0.4 * std::sin(kTwoPi * (phase - 0.375));
}

/// Wall time since start and the compressed simulated calendar.
class SimClock {
 public:
  explicit SimClock(double speed) : speed_(speed), start_(std::chrono::steady_clock::now()) {}

  double speed() const noexcept { return speed_; }
  double real_elapsed() const noexcept {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  /// Simulated days since start (fractional).
  double sim_days() const noexcept { return real_elapsed() * speed_ / kRealSecondsPerDay; }
  /// Position in the simulated day: 0 = midnight, 0.5 = noon.
  double day_phase() const noexcept { return sim_days() - std::floor(sim_days()); }
  /// How long something that lasts `real_seconds_at_speed_one` at DEMO_SPEED=1 (an outage,
  /// a user's think time) lasts at this speed.
  double scaled(double real_seconds_at_speed_one) const noexcept {
    return real_seconds_at_speed_one / speed_;
  }

 private:
  double speed_;
  std::chrono::steady_clock::time_point start_;
};

/// Runs callbacks after a delay on the simulation's io_context. Once stop() is called, nothing
/// new is scheduled, so the worker threads drain and return.
class Scheduler {
 public:
  explicit Scheduler(boost::asio::io_context& io) : io_(io) {}

  template <class Fn>
  void after(double seconds, Fn&& fn) {
    if (stopping()) return;
    const auto delay = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(seconds > 0 ? seconds : 0));
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, delay);
    // context::bind: the continuation logs with the user and request id of whoever scheduled
    // it, on whichever worker thread runs it.
    timer->async_wait([timer, fn = monitoring::context::bind(std::forward<Fn>(fn))](
                          const boost::system::error_code& error) mutable {
      if (!error) fn();
    });
  }

  /// Calls `fn` every `seconds` until stop.
  template <class Fn>
  void every(double seconds, Fn fn) {
    after(seconds, [this, seconds, fn]() mutable {
      fn();
      every(seconds, std::move(fn));
    });
  }

  void stop() noexcept { stopping_.store(true); }
  bool stopping() const noexcept { return stopping_.load(); }
  boost::asio::io_context& io() noexcept { return io_; }

 private:
  boost::asio::io_context& io_;
  std::atomic<bool> stopping_{false};
};

/// A histogram timing across asynchronous steps (PrometheusMetrics::track_time_async kept
/// alive until finish(), on whichever thread runs the last step; with Sentry tracing the
/// webhook and handler timers are transactions then). If the simulation stops before
/// finish(), the measurement is dropped instead of recording a cut-short duration.
class Span {
 public:
  explicit Span(monitoring::metrics::ScopedTimer timer) : timer_(std::move(timer)) {}
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  ~Span() { timer_.cancel(); }

  /// Observes the elapsed time now; returns it in seconds. `failed`: the step's trace span
  /// (a transaction for the webhook and handlers) ends as internal_error.
  double finish(bool failed = false) noexcept {
    if (failed) timer_.mark_failed();
    return timer_.stop();
  }

 private:
  monitoring::metrics::ScopedTimer timer_;
};

}  // namespace demo
