#include "health/engine.hpp"

#include <algorithm>
#include <exception>
#include <future>
#include <utility>

#include "health/scrub.hpp"
#include "monitoring/error.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::health::detail {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kStoppedMessage = "checker stopped";

double to_ms(Clock::duration duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

CheckOutcome make_outcome(const CheckState& check, CheckResult result, double latency_ms) {
  CheckOutcome outcome;
  outcome.name = check.name;
  outcome.status = result.status;
  outcome.message = scrub_message(result.message);
  outcome.latency_ms = latency_ms;
  outcome.critical = check.options.critical;
  outcome.checked_at = std::chrono::system_clock::now();
  return outcome;
}

CheckOutcome stopped_outcome(const CheckState& check) {
  return make_outcome(check, CheckResult::unhealthy(std::string(kStoppedMessage)), 0);
}

std::string timeout_message(std::chrono::milliseconds timeout) {
  return "timeout after " + std::to_string(timeout.count()) + " ms";
}

// The verdict for `run`; the first caller wins, later ones only release the busy flag.
void complete(const std::shared_ptr<Run>& run, CheckResult result, double latency_ms,
              bool from_worker, bool record) {
  CheckState& check = *run->check;
  CheckOutcome outcome;
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(check.mutex);
    if (from_worker) check.busy = false;
    if (run->done) return;
    run->done = true;
    outcome = make_outcome(check, std::move(result), latency_ms);
    if (record) {
      check.last = outcome;
      check.last_done = check.clock();
    }
    if (check.pending == run) check.pending.reset();
    waiters.swap(run->waiters);
  }
  if (record) {
    if (check.status_gauge != nullptr)
      check.status_gauge->set(outcome.status == Status::healthy ? 1.0 : 0.0);
    if (check.duration != nullptr) check.duration->observe(latency_ms / 1000.0);
  }
  for (auto& waiter : waiters) waiter(outcome);
}

void execute(const std::shared_ptr<Run>& run) {
  CheckState& check = *run->check;
  {
    std::lock_guard lock(check.mutex);
    if (run->done) {  // timed out (or stopped) while queued: not worth running any more
      check.busy = false;
      return;
    }
  }
  const auto start = Clock::now();
  CheckResult result;
  try {
    result = check.fn(CheckContext{run->deadline});
  } catch (const std::exception& error) {
    result = CheckResult::unhealthy(error.what());
  } catch (...) {
    result = CheckResult::unhealthy("unknown exception");
  }
  complete(run, std::move(result), to_ms(Clock::now() - start), true, true);
  // Without this, every run would leave its deadline in the timer queue until it passes.
  run->deadline_timer.cancel();
}

// Collects one outcome per check and hands them over once the last one is in.
struct Aggregate {
  Aggregate(std::size_t count, CheckEngine::Done done)
      : outcomes(count), remaining(count), done(std::move(done)) {}

  void set(std::size_t index, const CheckOutcome& outcome) {
    CheckEngine::Done finish;
    {
      std::lock_guard lock(mutex);
      outcomes[index] = outcome;
      if (--remaining != 0) return;
      finish = std::move(done);
    }
    try {
      finish(std::move(outcomes));
    } catch (...) {
      // Often on an executor or timer thread, where an escaping exception would terminate the
      // process; a failed answer to one request must not take the service down.
    }
  }

  std::mutex mutex;
  std::vector<CheckOutcome> outcomes;
  std::size_t remaining;
  CheckEngine::Done done;
};

constexpr std::string_view kStatusHelp =
    "Result of the last run of a health check: 1 healthy, 0 not";
constexpr std::string_view kDurationHelp = "Duration of health check runs in seconds";

}  // namespace

void validate_check_name(std::string_view name) {
  const bool valid =
      !name.empty() && name.size() <= 128 &&
      std::all_of(name.begin(), name.end(), [](char c) { return c > ' ' && c < 127; });
  if (!valid) {
    std::string shown;
    for (char c : name.substr(0, 128)) shown += (c >= ' ' && c < 127) ? c : '?';
    throw Error("invalid health check name '" + shown +
                "': use 1-128 printable ASCII characters without spaces");
  }
}

CheckEngine::CheckEngine(const CheckerOptions& options)
    : options_(options), pool_(options.max_threads, options.idle_thread_timeout) {
  if (options_.export_metrics)
    registry_ =
        options_.registry != nullptr ? options_.registry : &metrics::Registry::default_registry();
}

CheckEngine::~CheckEngine() {
  shutdown();
}

void CheckEngine::add(std::string name, CheckFunction fn, CheckOptions options) {
  validate_check_name(name);
  if (!fn) throw Error("health check '" + name + "' has no function");
  if (options.timeout.count() <= 0)
    throw Error("health check '" + name + "': timeout must be positive, got " +
                std::to_string(options.timeout.count()) + " ms");
  if (options.cache_ttl.count() < 0 || options.interval.count() < 0)
    throw Error("health check '" + name + "': cache_ttl and interval must not be negative");

  auto check = std::make_shared<CheckState>();
  check->name = std::move(name);
  check->fn = std::move(fn);
  check->options = options;
  check->clock = options_.clock ? options_.clock : default_clock();
  if (registry_ != nullptr) {
    check->status_gauge =
        &registry_->gauge("health_check_status", std::string(kStatusHelp), {"check"})
             .labels(check->name);
    check->duration =
        &registry_
             ->histogram("health_check_duration_seconds", std::string(kDurationHelp), {"check"})
             .labels(check->name);
  }

  std::shared_ptr<CheckState> replaced;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) throw Error("health check '" + check->name + "' added to a stopped checker");
    auto same = std::find_if(checks_.begin(), checks_.end(),
                             [&](const auto& existing) { return existing->name == check->name; });
    if (same != checks_.end()) {
      replaced = std::exchange(*same, check);
      retired_.push_back(replaced);
    } else {
      checks_.push_back(check);
    }
  }
  if (replaced) {
    std::lock_guard lock(replaced->mutex);
    replaced->retired = true;
  }
  if (check->options.interval.count() > 0) schedule_refresh(check, Clock::now());
}

bool CheckEngine::remove(std::string_view name) {
  std::shared_ptr<CheckState> removed;
  {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(checks_.begin(), checks_.end(),
                           [&](const auto& check) { return check->name == name; });
    if (it == checks_.end()) return false;
    removed = *it;
    checks_.erase(it);
    retired_.push_back(removed);
  }
  std::lock_guard lock(removed->mutex);
  removed->retired = true;
  return true;
}

std::vector<std::string> CheckEngine::names() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  names.reserve(checks_.size());
  for (const auto& check : checks_) names.push_back(check->name);
  return names;
}

CheckerStats CheckEngine::stats() const {
  CheckerStats stats;
  stats.runs_started = runs_started_.load(std::memory_order_relaxed);
  std::vector<std::shared_ptr<CheckState>> checks;
  {
    std::lock_guard lock(mutex_);
    checks = checks_;
    checks.insert(checks.end(), retired_.begin(), retired_.end());
  }
  for (const auto& check : checks) {
    std::lock_guard lock(check->mutex);
    if (check->pending) stats.requests_waiting += check->pending->waiters.size();
  }
  return stats;
}

void CheckEngine::collect(Done done) {
  collect(std::move(done), [](std::string_view) { return true; });
}

void CheckEngine::collect(Done done, const std::function<bool(std::string_view)>& selected) {
  std::vector<std::shared_ptr<CheckState>> checks;
  bool stopped;
  {
    std::lock_guard lock(mutex_);
    checks.reserve(checks_.size());
    for (const auto& check : checks_)
      if (selected(check->name)) checks.push_back(check);
    stopped = stopped_;
  }
  if (checks.empty()) {
    done({});
    return;
  }
  auto aggregate = std::make_shared<Aggregate>(checks.size(), std::move(done));
  for (std::size_t i = 0; i < checks.size(); ++i) {
    if (stopped) {
      aggregate->set(i, stopped_outcome(*checks[i]));
      continue;
    }
    acquire(checks[i], [aggregate, i](const CheckOutcome& outcome) { aggregate->set(i, outcome); });
  }
}

std::vector<CheckOutcome> CheckEngine::collect_sync() {
  auto promise = std::make_shared<std::promise<std::vector<CheckOutcome>>>();
  auto future = promise->get_future();
  collect(
      [promise](std::vector<CheckOutcome> outcomes) { promise->set_value(std::move(outcomes)); });
  return future.get();
}

void CheckEngine::acquire(const std::shared_ptr<CheckState>& check, Waiter waiter) {
  std::optional<CheckOutcome> ready;
  std::shared_ptr<Run> started;
  {
    std::lock_guard lock(check->mutex);
    const auto now = check->clock();
    const bool background = check->options.interval.count() > 0;
    const bool stuck = check->busy && !check->pending;  // abandoned run not back yet
    if (check->last && (background || stuck || now - check->last_done < check->options.cache_ttl)) {
      ready = *check->last;
      if (stuck) {
        const auto seconds =
            std::chrono::duration_cast<std::chrono::seconds>(now - check->busy_since);
        ready->message +=
            " (the check has not returned for " + std::to_string(seconds.count()) + " s)";
      }
    } else if (check->pending) {
      check->pending->waiters.push_back(std::move(waiter));
    } else {
      started = begin_run_locked(check);
      started->waiters.push_back(std::move(waiter));
    }
  }
  if (started) launch(started);
  if (ready) waiter(*ready);
}

std::shared_ptr<Run> CheckEngine::begin_run_locked(const std::shared_ptr<CheckState>& check) {
  auto run = std::make_shared<Run>();
  run->check = check;
  // Deadlines are real time: the timer thread enforces them against a thread that may hang.
  run->deadline = Clock::now() + check->options.timeout;
  check->pending = run;
  check->busy = true;
  check->busy_since = check->clock();
  return run;
}

void CheckEngine::launch(const std::shared_ptr<Run>& run) {
  runs_started_.fetch_add(1, std::memory_order_relaxed);
  // The deadline is armed first, so the worker always finds the ticket it has to cancel.
  const auto timeout = run->check->options.timeout;
  run->deadline_timer = timer_.schedule(run->deadline, [weak = std::weak_ptr<Run>(run), timeout] {
    if (auto expired = weak.lock())
      complete(expired, CheckResult::unhealthy(timeout_message(timeout)),
               static_cast<double>(timeout.count()), false, true);
  });
  if (!pool_.post([run] { execute(run); })) {
    run->deadline_timer.cancel();
    complete(run, CheckResult::unhealthy(std::string(kStoppedMessage)), 0, true, false);
  }
}

void CheckEngine::schedule_refresh(const std::shared_ptr<CheckState>& check,
                                   Clock::time_point when) {
  timer_.schedule(when,
                  [weak_engine = weak_from_this(), weak_check = std::weak_ptr<CheckState>(check)] {
                    auto engine = weak_engine.lock();
                    auto check = weak_check.lock();
                    if (engine && check) engine->refresh(check);
                  });
}

void CheckEngine::refresh(const std::shared_ptr<CheckState>& check) {
  std::shared_ptr<Run> started;
  const auto now = Clock::now();
  {
    std::lock_guard lock(check->mutex);
    if (check->retired) return;
    if (!check->busy && !check->pending) started = begin_run_locked(check);
  }
  if (started) launch(started);
  schedule_refresh(check, now + check->options.interval);
}

void CheckEngine::shutdown() {
  std::vector<std::shared_ptr<CheckState>> checks;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    checks = checks_;
    checks.insert(checks.end(), retired_.begin(), retired_.end());
  }
  // Running checks get the grace period to deliver their verdicts; queued ones are dropped.
  pool_.shutdown(options_.shutdown_grace);
  timer_.stop();
  for (const auto& check : checks) {
    std::shared_ptr<Run> pending;
    {
      std::lock_guard lock(check->mutex);
      pending = check->pending;
    }
    if (pending)
      complete(pending, CheckResult::unhealthy(std::string(kStoppedMessage)), 0, false, false);
  }
}

HealthReport make_health_report(std::vector<CheckOutcome> outcomes) {
  HealthReport report;
  report.status = aggregate_status(outcomes);
  report.timestamp = std::chrono::system_clock::now();
  report.uptime_seconds = process_uptime_seconds();
  report.checks = std::move(outcomes);
  return report;
}

ReadinessReport make_readiness_report(const ReadinessState& state,
                                      std::vector<CheckOutcome> outcomes) {
  ReadinessReport report;
  report.started = state.started.load(std::memory_order_acquire);
  report.draining = state.draining.load(std::memory_order_acquire);
  report.timestamp = std::chrono::system_clock::now();
  const bool critical_failure = std::any_of(outcomes.begin(), outcomes.end(), [](const auto& o) {
    return o.critical && o.status == Status::unhealthy;
  });
  report.ready = report.started && !report.draining && !critical_failure;
  report.checks = std::move(outcomes);
  return report;
}

}  // namespace monitoring::health::detail
