#include "monitoring/health/checker.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <future>

#include "health/engine.hpp"
#include "monitoring/error.hpp"

namespace monitoring::health {

namespace {

// begin_drain() must be callable from a signal handler.
static_assert(std::atomic<bool>::is_always_lock_free);

CheckResult abandoned_result() {
  return CheckResult::unhealthy("timeout");
}

// Coroutines get a little past the deadline so the engine's timer, which fires exactly at it,
// delivers the verdict ("timeout after N ms") and this thread's answer is only a fallback.
constexpr std::chrono::milliseconds kOverrun{20};

}  // namespace

std::string_view to_string(Status status) noexcept {
  switch (status) {
    case Status::healthy:
      return "healthy";
    case Status::degraded:
      return "degraded";
    case Status::unhealthy:
      return "unhealthy";
  }
  return "unhealthy";
}

Status aggregate_status(std::span<const CheckOutcome> checks) noexcept {
  Status status = Status::healthy;
  for (const auto& check : checks) {
    if (check.status == Status::healthy) continue;
    if (check.critical && check.status == Status::unhealthy) return Status::unhealthy;
    status = Status::degraded;
  }
  return status;
}

namespace detail {

CheckResult run_awaitable_check(boost::asio::awaitable<CheckResult> check,
                                const boost::asio::any_io_executor* executor,
                                const CheckContext& context) {
  if (executor != nullptr) {
    // On the application's loop: if it overruns, the coroutine finishes there on its own and
    // the engine has already reported the timeout.
    auto future = boost::asio::co_spawn(*executor, std::move(check), boost::asio::use_future);
    if (future.wait_until(context.deadline + kOverrun) != std::future_status::ready)
      return abandoned_result();
    return future.get();
  }
  boost::asio::io_context io;
  auto future = boost::asio::co_spawn(io, std::move(check), boost::asio::use_future);
  io.run_until(context.deadline + kOverrun);
  if (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
    return abandoned_result();  // the io_context's destruction destroys the coroutine
  return future.get();
}

}  // namespace detail

HealthChecker::HealthChecker(CheckerOptions options)
    : engine_(std::make_shared<detail::CheckEngine>(options)) {}

HealthChecker::~HealthChecker() {
  if (engine_) engine_->shutdown();
}

HealthChecker::HealthChecker(HealthChecker&&) noexcept = default;

HealthChecker& HealthChecker::operator=(HealthChecker&& other) noexcept {
  if (this != &other) {
    if (engine_) engine_->shutdown();
    engine_ = std::move(other.engine_);
  }
  return *this;
}

void HealthChecker::add(std::string name, CheckFunction fn, CheckOptions options) {
  if (!engine_) throw Error("HealthChecker used after move");
  engine_->add(std::move(name), std::move(fn), options);
}

bool HealthChecker::remove_check(std::string_view name) {
  return engine_ && engine_->remove(name);
}

std::vector<std::string> HealthChecker::check_names() const {
  return engine_ ? engine_->names() : std::vector<std::string>{};
}

CheckerStats HealthChecker::stats() const {
  return engine_ ? engine_->stats() : CheckerStats{};
}

HealthReport HealthChecker::check() const {
  if (!engine_) return detail::make_health_report({});
  return detail::make_health_report(engine_->collect_sync());
}

void HealthChecker::check_async(std::function<void(HealthReport)> done) const {
  if (!engine_) {
    done(detail::make_health_report({}));
    return;
  }
  engine_->collect([done = std::move(done)](std::vector<CheckOutcome> outcomes) {
    done(detail::make_health_report(std::move(outcomes)));
  });
}

ReadinessChecker::ReadinessChecker(CheckerOptions options)
    : state_(std::make_shared<detail::ReadinessState>(options)) {}

ReadinessChecker::~ReadinessChecker() {
  if (state_) state_->engine->shutdown();
}

ReadinessChecker::ReadinessChecker(ReadinessChecker&&) noexcept = default;

ReadinessChecker& ReadinessChecker::operator=(ReadinessChecker&& other) noexcept {
  if (this != &other) {
    if (state_) state_->engine->shutdown();
    state_ = std::move(other.state_);
  }
  return *this;
}

void ReadinessChecker::add(std::string name, CheckFunction fn, CheckOptions options) {
  if (!state_) throw Error("ReadinessChecker used after move");
  state_->engine->add(std::move(name), std::move(fn), options);
}

bool ReadinessChecker::remove_check(std::string_view name) {
  return state_ && state_->engine->remove(name);
}

std::vector<std::string> ReadinessChecker::check_names() const {
  return state_ ? state_->engine->names() : std::vector<std::string>{};
}

CheckerStats ReadinessChecker::stats() const {
  return state_ ? state_->engine->stats() : CheckerStats{};
}

void ReadinessChecker::mark_started() noexcept {
  if (state_) state_->started.store(true, std::memory_order_release);
}

bool ReadinessChecker::started() const noexcept {
  return state_ && state_->started.load(std::memory_order_acquire);
}

void ReadinessChecker::begin_drain() noexcept {
  if (state_) state_->draining.store(true, std::memory_order_release);
}

bool ReadinessChecker::draining() const noexcept {
  return state_ && state_->draining.load(std::memory_order_acquire);
}

ReadinessReport ReadinessChecker::check() const {
  auto promise = std::make_shared<std::promise<ReadinessReport>>();
  auto future = promise->get_future();
  check_async([promise](ReadinessReport report) { promise->set_value(std::move(report)); });
  return future.get();
}

void ReadinessChecker::check_async(std::function<void(ReadinessReport)> done) const {
  if (!state_) {
    ReadinessReport report;
    report.timestamp = std::chrono::system_clock::now();
    done(std::move(report));
    return;
  }
  if (state_->draining.load(std::memory_order_acquire)) {
    // Draining answers at once: the load balancer must stop sending traffic right now.
    done(detail::make_readiness_report(*state_, {}));
    return;
  }
  state_->engine->collect(
      [state = state_, done = std::move(done)](std::vector<CheckOutcome> outcomes) {
        done(detail::make_readiness_report(*state, std::move(outcomes)));
      });
}

}  // namespace monitoring::health
