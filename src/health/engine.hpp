#pragma once

// The machinery shared by HealthChecker and ReadinessChecker: a set of named checks, their
// runs, caches and deadlines.
//
// Every check has at most one run in flight. A run is "done" once it has a verdict: its
// function returned, or its deadline passed (verdict "timeout", while the thread may still be
// inside the function: the check stays "busy" and is not started again until it returns).
// Requests either take the cached verdict or attach to the run in flight; they never wait on
// a thread, only on a verdict, and the timer thread guarantees every verdict by its deadline.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "health/executor.hpp"
#include "monitoring/health/check.hpp"
#include "monitoring/health/checker.hpp"

namespace monitoring::metrics {
class Gauge;
class Histogram;
}  // namespace monitoring::metrics

namespace monitoring::health::detail {

struct Run;

/// One registered check and its cache. Shared by the engine, its runs and the timer.
struct CheckState {
  std::string name;
  CheckFunction fn;
  CheckOptions options;
  Clock clock;  // CheckerOptions::clock: cache ages and busy_since
  metrics::Gauge* status_gauge = nullptr;
  metrics::Histogram* duration = nullptr;

  std::mutex mutex;  // guards everything below and Run::done / Run::waiters
  std::optional<CheckOutcome> last;
  std::chrono::steady_clock::time_point last_done;  // on `clock`
  std::shared_ptr<Run> pending;                     // the run whose verdict is not in yet
  bool busy = false;  // a thread is inside fn (possibly past its deadline)
  std::chrono::steady_clock::time_point busy_since;  // on `clock`
  bool retired = false;  // removed or replaced: no more background refreshes
};

using Waiter = std::function<void(const CheckOutcome&)>;

struct Run {
  std::shared_ptr<CheckState> check;
  std::chrono::steady_clock::time_point deadline;
  TimerThread::Ticket deadline_timer;  // set before the run is posted, dropped when it finishes
  bool done = false;
  std::vector<Waiter> waiters;
};

/// See the file comment.
class CheckEngine : public std::enable_shared_from_this<CheckEngine> {
 public:
  using Done = std::function<void(std::vector<CheckOutcome>)>;

  explicit CheckEngine(const CheckerOptions& options);
  ~CheckEngine();
  CheckEngine(const CheckEngine&) = delete;
  CheckEngine& operator=(const CheckEngine&) = delete;

  void add(std::string name, CheckFunction fn, CheckOptions options);
  bool remove(std::string_view name);
  std::vector<std::string> names() const;
  CheckerStats stats() const;

  /// Calls `done` once with one outcome per check, in registration order: inline when every
  /// result is cached, otherwise from the thread delivering the last verdict.
  void collect(Done done);
  /// The same for the checks `selected` accepts by name; the others are not run.
  void collect(Done done, const std::function<bool(std::string_view)>& selected);
  /// Blocking form of collect().
  std::vector<CheckOutcome> collect_sync();

  /// Stops background refreshes and the executor; pending runs get "checker stopped".
  /// Idempotent; later collect() calls answer "checker stopped" at once.
  void shutdown();

 private:
  void acquire(const std::shared_ptr<CheckState>& check, Waiter waiter);
  std::shared_ptr<Run> begin_run_locked(const std::shared_ptr<CheckState>& check);
  void launch(const std::shared_ptr<Run>& run);
  void schedule_refresh(const std::shared_ptr<CheckState>& check,
                        std::chrono::steady_clock::time_point when);
  void refresh(const std::shared_ptr<CheckState>& check);

  CheckerOptions options_;
  metrics::Registry* registry_ = nullptr;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<CheckState>> checks_;
  std::vector<std::shared_ptr<CheckState>> retired_;  // removed, maybe with a run in flight
  bool stopped_ = false;
  std::atomic<std::uint64_t> runs_started_{0};
  ElasticPool pool_;
  TimerThread timer_;
};

/// Shared state of a ReadinessChecker (the routes hold it too).
struct ReadinessState {
  explicit ReadinessState(const CheckerOptions& options)
      : engine(std::make_shared<CheckEngine>(options)) {}
  std::shared_ptr<CheckEngine> engine;
  std::atomic<bool> started{false};
  std::atomic<bool> draining{false};
};

/// Builds reports from collected outcomes.
HealthReport make_health_report(std::vector<CheckOutcome> outcomes);
ReadinessReport make_readiness_report(const ReadinessState& state,
                                      std::vector<CheckOutcome> outcomes);

/// Reaches the shared state behind the checkers (for the HTTP routes).
struct Access {
  static std::shared_ptr<CheckEngine> engine(const HealthChecker& checker) {
    return checker.engine_;
  }
  static std::shared_ptr<ReadinessState> state(const ReadinessChecker& checker) {
    return checker.state_;
  }
};

/// Throws monitoring::Error unless `name` is 1..128 printable ASCII characters without spaces.
void validate_check_name(std::string_view name);

}  // namespace monitoring::health::detail
