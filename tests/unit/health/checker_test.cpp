#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>
#include <stdexcept>
#include <thread>

#include "monitoring/metrics/registry.hpp"
#include "test_util.hpp"

namespace monitoring::health {
namespace {

using namespace std::chrono_literals;
using testing::find_check;
using testing::Gate;
using testing::options;
using testing::quiet;

TEST(HealthStatus, AggregatesCriticalAndNonCriticalChecks) {
  auto outcome = [](Status status, bool critical) {
    CheckOutcome o;
    o.status = status;
    o.critical = critical;
    return o;
  };
  EXPECT_EQ(aggregate_status({}), Status::healthy);
  std::vector<CheckOutcome> all_ok{outcome(Status::healthy, true), outcome(Status::healthy, false)};
  EXPECT_EQ(aggregate_status(all_ok), Status::healthy);
  std::vector<CheckOutcome> optional_down{outcome(Status::healthy, true),
                                          outcome(Status::unhealthy, false)};
  EXPECT_EQ(aggregate_status(optional_down), Status::degraded);
  std::vector<CheckOutcome> critical_degraded{outcome(Status::degraded, true)};
  EXPECT_EQ(aggregate_status(critical_degraded), Status::degraded);
  std::vector<CheckOutcome> critical_down{outcome(Status::degraded, false),
                                          outcome(Status::unhealthy, true)};
  EXPECT_EQ(aggregate_status(critical_down), Status::unhealthy);

  HealthReport report;
  report.status = Status::degraded;
  EXPECT_EQ(report.http_status(), 200u);
  report.status = Status::unhealthy;
  EXPECT_EQ(report.http_status(), 503u);
  EXPECT_EQ(to_string(Status::healthy), "healthy");
  EXPECT_EQ(to_string(Status::degraded), "degraded");
  EXPECT_EQ(to_string(Status::unhealthy), "unhealthy");
}

TEST(HealthChecker, ReportsEveryCheckInRegistrationOrder) {
  HealthChecker checker(quiet());
  checker.add_check("zeta", [] { return CheckResult::healthy("fine"); });
  checker.add_check(
      "alpha", [] { return CheckResult::degraded("slow"); }, options(2s, 0ms, false));
  checker.add_check("mid", [] { return true; });
  HealthReport report = checker.check();
  ASSERT_EQ(report.checks.size(), 3u);
  EXPECT_EQ(report.checks[0].name, "zeta");
  EXPECT_EQ(report.checks[0].message, "fine");
  EXPECT_EQ(report.checks[1].name, "alpha");
  EXPECT_EQ(report.checks[1].status, Status::degraded);
  EXPECT_FALSE(report.checks[1].critical);
  EXPECT_EQ(report.checks[2].name, "mid");
  EXPECT_EQ(report.status, Status::degraded);
  EXPECT_GT(report.uptime_seconds, 0);
  EXPECT_GE(report.checks[0].latency_ms, 0);
  EXPECT_EQ(checker.check_names(), (std::vector<std::string>{"zeta", "alpha", "mid"}));
}

TEST(HealthChecker, AdaptsEverySupportedCallableShape) {
  HealthChecker checker(quiet());
  checker.add_check("bool_false", [] { return false; });
  checker.add_check("void", [] {});
  checker.add_check("status", [] { return Status::degraded; });
  checker.add_check("context", [](const CheckContext& context) {
    return context.remaining() > 0ms && !context.expired() ? CheckResult::healthy("has time")
                                                           : CheckResult::unhealthy("no time");
  });
  CheckFunction plain = [](const CheckContext&) { return CheckResult::healthy("std::function"); };
  checker.add_check("function", plain);
  HealthReport report = checker.check();
  EXPECT_EQ(find_check(report.checks, "bool_false")->status, Status::unhealthy);
  EXPECT_EQ(find_check(report.checks, "bool_false")->message, "check returned false");
  EXPECT_EQ(find_check(report.checks, "void")->status, Status::healthy);
  EXPECT_EQ(find_check(report.checks, "status")->status, Status::degraded);
  EXPECT_EQ(find_check(report.checks, "context")->message, "has time");
  EXPECT_EQ(find_check(report.checks, "function")->message, "std::function");
}

TEST(HealthChecker, ThrownExceptionsBecomeUnhealthyWithTheirMessage) {
  HealthChecker checker(quiet());
  checker.add_check("std", []() -> bool { throw std::runtime_error("connection reset by peer"); });
  checker.add_check("other", []() -> bool { throw 42; });
  checker.add_check("secret", []() -> bool {
    throw std::runtime_error("cannot reach postgresql://bot:hunter22@db/bot");
  });
  HealthReport report = checker.check();
  EXPECT_EQ(report.status, Status::unhealthy);
  EXPECT_EQ(find_check(report.checks, "std")->message, "connection reset by peer");
  EXPECT_EQ(find_check(report.checks, "other")->message, "unknown exception");
  const std::string& scrubbed = find_check(report.checks, "secret")->message;
  EXPECT_EQ(scrubbed.find("hunter22"), std::string::npos) << scrubbed;
  EXPECT_NE(scrubbed.find("@db/bot"), std::string::npos) << scrubbed;
}

TEST(HealthChecker, CoroutineChecksRunOnAPrivateLoopOrOnTheGivenExecutor) {
  HealthChecker checker(quiet());
  checker.add_check("coro", []() -> boost::asio::awaitable<bool> {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, 5ms);
    co_await timer.async_wait(boost::asio::use_awaitable);
    co_return true;
  });
  checker.add_check("coro_throws", []() -> boost::asio::awaitable<void> {
    co_await boost::asio::post(co_await boost::asio::this_coro::executor,
                               boost::asio::use_awaitable);
    throw std::runtime_error("pool exhausted");
  });

  boost::asio::io_context app;
  auto work = boost::asio::make_work_guard(app);
  std::thread app_thread([&] { app.run(); });
  std::atomic<std::thread::id> ran_on{};
  checker.add_check_on(app.get_executor(), "on_app", [&]() -> boost::asio::awaitable<CheckResult> {
    ran_on = std::this_thread::get_id();
    co_return CheckResult::healthy("app loop");
  });

  HealthReport report = checker.check();
  EXPECT_EQ(find_check(report.checks, "coro")->status, Status::healthy);
  EXPECT_EQ(find_check(report.checks, "coro_throws")->status, Status::unhealthy);
  EXPECT_EQ(find_check(report.checks, "coro_throws")->message, "pool exhausted");
  EXPECT_EQ(find_check(report.checks, "on_app")->message, "app loop");
  EXPECT_EQ(ran_on.load(), app_thread.get_id());
  work.reset();
  app_thread.join();
}

TEST(HealthChecker, CoroutineThatOverrunsIsAbandonedAtTheTimeout) {
  HealthChecker checker(quiet());
  checker.add_check(
      "slow_coro",
      []() -> boost::asio::awaitable<bool> {
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, 10s);
        co_await timer.async_wait(boost::asio::use_awaitable);
        co_return true;
      },
      options(100ms, 0ms));
  HealthReport report = checker.check();
  EXPECT_EQ(report.checks[0].status, Status::unhealthy);
  EXPECT_EQ(report.checks[0].message, "timeout after 100 ms");
}

TEST(HealthChecker, HungCheckIsAbandonedAtItsTimeoutAndNotStartedAgain) {
  auto gate = std::make_shared<Gate>();
  std::atomic<int> runs{0};
  HealthChecker checker(quiet());
  checker.add_check(
      "hung",
      [&, gate] {
        ++runs;
        gate->wait();
        return true;
      },
      options(150ms, 0ms));
  checker.add_check(
      "fine", [] { return true; }, options(2s, 0ms, false));

  const auto start = std::chrono::steady_clock::now();
  HealthReport report = checker.check();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(report.status, Status::unhealthy);
  const CheckOutcome* hung = find_check(report.checks, "hung");
  EXPECT_EQ(hung->message, "timeout after 150 ms");
  EXPECT_DOUBLE_EQ(hung->latency_ms, 150);
  EXPECT_EQ(find_check(report.checks, "fine")->status, Status::healthy);
  EXPECT_GE(elapsed, 150ms);
  EXPECT_LT(elapsed, 10s);  // bounded by the timeout, not by the stuck call

  // The stuck call still holds its thread: later requests get the verdict without a new run.
  for (int i = 0; i < 3; ++i) {
    HealthReport again = checker.check();
    EXPECT_EQ(find_check(again.checks, "hung")->status, Status::unhealthy);
    EXPECT_NE(find_check(again.checks, "hung")->message.find("has not returned"),
              std::string::npos);
  }
  EXPECT_EQ(runs.load(), 1);

  gate->open();
  // Once the call returns, the next request runs the check again.
  EXPECT_TRUE(testing::eventually(
      [&] { return find_check(checker.check().checks, "hung")->status == Status::healthy; }));
  EXPECT_EQ(runs.load(), 2);
}

TEST(HealthChecker, ChecksRunInParallel) {
  // Each check waits for all three to be running at once; run one after another they would
  // each give up after 5 s and report unhealthy.
  auto meeting = std::make_shared<testing::Rendezvous>(3);
  HealthChecker checker(quiet());
  for (const char* name : {"a", "b", "c"})
    checker.add_check(
        name, [meeting] { return meeting->arrive_and_wait(5s); }, options(10s, 0ms));
  HealthReport report = checker.check();
  EXPECT_EQ(report.status, Status::healthy);
  for (const auto& check : report.checks) EXPECT_EQ(check.status, Status::healthy) << check.name;
}

TEST(HealthChecker, CachedResultIsServedUntilItsTtlExpires) {
  std::atomic<int> runs{0};
  testing::ManualClock clock;
  CheckerOptions checker_options = quiet();
  checker_options.clock = clock.function();
  HealthChecker checker(checker_options);
  checker.add_check(
      "cached",
      [&] {
        ++runs;
        return CheckResult::healthy("run " + std::to_string(runs.load()));
      },
      options(2s, 300ms));
  EXPECT_EQ(checker.check().checks[0].message, "run 1");
  EXPECT_EQ(checker.check().checks[0].message, "run 1");
  EXPECT_EQ(runs.load(), 1);
  clock.advance(299ms);
  EXPECT_EQ(checker.check().checks[0].message, "run 1");
  EXPECT_EQ(runs.load(), 1);
  clock.advance(1ms);  // the result is 300 ms old: expired
  EXPECT_EQ(checker.check().checks[0].message, "run 2");
  EXPECT_EQ(runs.load(), 2);
  EXPECT_EQ(checker.check().checks[0].message, "run 2");
}

TEST(HealthChecker, ZeroTtlRunsTheCheckForEveryRequest) {
  std::atomic<int> runs{0};
  HealthChecker checker(quiet());
  checker.add_check(
      "fresh", [&] { ++runs; }, options(2s, 0ms));
  for (int i = 0; i < 5; ++i) checker.check();
  EXPECT_EQ(runs.load(), 5);
}

TEST(HealthChecker, BackgroundIntervalRefreshesWithoutRequests) {
  std::atomic<int> runs{0};
  HealthChecker checker(quiet());
  CheckOptions background;
  background.interval = 30ms;
  checker.add_check(
      "refreshed",
      [&] {
        ++runs;
        return true;
      },
      background);
  EXPECT_TRUE(testing::eventually([&] { return runs.load() >= 3; }));
  // Requests read the latest background result instead of running the check.
  const int before = runs.load();
  HealthReport report = checker.check();
  EXPECT_EQ(report.checks[0].status, Status::healthy);
  EXPECT_LE(runs.load(), before + 1);  // at most one background tick in between
  EXPECT_TRUE(checker.remove_check("refreshed"));
  const int after_remove = runs.load();
  // "No more runs" has no event to wait for: watch six intervals, in which a check that kept
  // refreshing would run about six times. One tick may already have been under way.
  std::this_thread::sleep_for(180ms);
  EXPECT_LE(runs.load(), after_remove + 1);
}

TEST(HealthChecker, RegisteringANameAgainReplacesTheCheck) {
  HealthChecker checker(quiet());
  checker.add_check("db", [] { return CheckResult::unhealthy("old"); });
  checker.add_check("other", [] {});
  checker.add_check("db", [] { return CheckResult::healthy("new"); });
  HealthReport report = checker.check();
  ASSERT_EQ(report.checks.size(), 2u);
  EXPECT_EQ(report.checks[0].name, "db");
  EXPECT_EQ(report.checks[0].message, "new");
  EXPECT_TRUE(checker.remove_check("db"));
  EXPECT_FALSE(checker.remove_check("db"));
  EXPECT_EQ(checker.check_names(), std::vector<std::string>{"other"});
}

TEST(HealthChecker, RejectsBadNamesAndOptions) {
  HealthChecker checker(quiet());
  EXPECT_THROW(checker.add_check("", [] {}), Error);
  EXPECT_THROW(checker.add_check("has space", [] {}), Error);
  EXPECT_THROW(checker.add_check(std::string(129, 'x'), [] {}), Error);
  EXPECT_THROW(checker.add_check(
                   "zero", [] {}, options(0ms, 0ms)),
               Error);
  CheckOptions negative;
  negative.cache_ttl = -1ms;
  EXPECT_THROW(checker.add_check(
                   "negative", [] {}, negative),
               Error);
  try {
    checker.add_check("bad\nname", [] {});
    FAIL() << "expected Error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("bad?name"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(checker.check_names().empty());
}

TEST(HealthChecker, NoChecksIsHealthy) {
  HealthChecker checker(quiet());
  HealthReport report = checker.check();
  EXPECT_EQ(report.status, Status::healthy);
  EXPECT_TRUE(report.checks.empty());
}

TEST(HealthChecker, CheckAsyncAnswersInlineFromCacheAndLaterOtherwise) {
  HealthChecker checker(quiet());
  auto gate = std::make_shared<Gate>();
  checker.add_check(
      "slow", [gate] { return gate->wait(); }, options(5s, 10s));

  std::promise<HealthReport> first;
  const auto caller = std::this_thread::get_id();
  std::atomic<bool> inline_first{false};
  checker.check_async([&](HealthReport report) {
    inline_first = std::this_thread::get_id() == caller;
    first.set_value(std::move(report));
  });
  auto future = first.get_future();
  EXPECT_EQ(future.wait_for(50ms), std::future_status::timeout);  // still running
  gate->open();
  EXPECT_EQ(future.get().status, Status::healthy);
  EXPECT_FALSE(inline_first.load());

  bool inline_second = false;
  checker.check_async([&](HealthReport) { inline_second = std::this_thread::get_id() == caller; });
  EXPECT_TRUE(inline_second);  // cached: answered on the calling thread
}

TEST(HealthChecker, ExportsStatusAndDurationMetrics) {
  metrics::Registry registry;
  HealthChecker checker(quiet(&registry));
  std::atomic<bool> healthy{true};
  checker.add_check(
      "flappy", [&] { return healthy.load(); }, options(2s, 0ms));
  checker.check();
  auto& status = registry.gauge("health_check_status", "", {"check"});
  auto& duration = registry.histogram("health_check_duration_seconds", "", {"check"});
  EXPECT_EQ(status.labels("flappy").value(), 1.0);
  healthy = false;
  checker.check();
  EXPECT_EQ(status.labels("flappy").value(), 0.0);
  EXPECT_EQ(duration.labels("flappy").snapshot().count(), 2.0);
}

TEST(HealthChecker, DestroyingTheCheckerAnswersPendingRequests) {
  auto gate = std::make_shared<Gate>();
  std::promise<HealthReport> answer;
  {
    CheckerOptions fast = quiet();
    fast.shutdown_grace = 10ms;
    HealthChecker checker(fast);
    checker.add_check(
        "stuck", [gate] { return gate->wait(); }, options(30s, 0ms));
    checker.check_async([&](HealthReport report) { answer.set_value(std::move(report)); });
  }
  auto future = answer.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  HealthReport report = future.get();
  EXPECT_EQ(report.checks[0].message, "checker stopped");
  gate->open();
}

TEST(HealthChecker, MovedCheckerKeepsItsChecks) {
  HealthChecker first(quiet());
  first.add_check("kept", [] {});
  HealthChecker second = std::move(first);
  EXPECT_EQ(second.check_names(), std::vector<std::string>{"kept"});
  EXPECT_EQ(second.check().checks.size(), 1u);
}

TEST(ReadinessChecker, NotReadyUntilStartedAndFromTheFirstMomentOfDrain) {
  std::atomic<int> runs{0};
  ReadinessChecker readiness(quiet());
  readiness.add_check(
      "migrations",
      [&] {
        ++runs;
        return true;
      },
      options(2s, 0ms));
  ReadinessReport before = readiness.check();
  EXPECT_FALSE(before.ready);
  EXPECT_FALSE(before.started);
  EXPECT_EQ(before.http_status(), 503u);
  EXPECT_EQ(before.checks.size(), 1u);

  readiness.mark_started();
  ReadinessReport started = readiness.check();
  EXPECT_TRUE(started.ready);
  EXPECT_EQ(started.http_status(), 200u);

  const int runs_before_drain = runs.load();
  readiness.begin_drain();
  EXPECT_TRUE(readiness.draining());
  ReadinessReport draining = readiness.check();
  EXPECT_FALSE(draining.ready);
  EXPECT_TRUE(draining.draining);
  EXPECT_TRUE(draining.checks.empty());
  EXPECT_EQ(runs.load(), runs_before_drain);  // answered without running anything
}

TEST(ReadinessChecker, CriticalFailureMeansNotReadyOptionalDoesNot) {
  ReadinessChecker readiness(quiet());
  readiness.mark_started();
  readiness.add_check(
      "optional", [] { return false; }, options(2s, 0ms, false));
  EXPECT_TRUE(readiness.check().ready);
  readiness.add_check(
      "cache", [] { return CheckResult::unhealthy("PING failed"); }, options(2s, 0ms));
  ReadinessReport report = readiness.check();
  EXPECT_FALSE(report.ready);
  EXPECT_EQ(find_check(report.checks, "cache")->message, "PING failed");
}

}  // namespace
}  // namespace monitoring::health
