// Parallel probes against one checker; run under ThreadSanitizer in CI (suite name contains
// "Concurrency").

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "monitoring/metrics/registry.hpp"
#include "test_util.hpp"

namespace monitoring::health {
namespace {

using namespace std::chrono_literals;
using testing::Gate;
using testing::options;
using testing::quiet;

TEST(HealthConcurrency, ParallelRequestsShareOneRunPerCheck) {
  std::atomic<int> runs{0};
  auto gate = std::make_shared<Gate>();
  HealthChecker checker(quiet());
  checker.add_check(
      "shared",
      [&, gate] {
        ++runs;
        gate->wait();
        return true;
      },
      options(10s, 0ms));

  constexpr int kCallers = 8;
  std::vector<std::future<HealthReport>> callers;
  for (int i = 0; i < kCallers; ++i)
    callers.push_back(std::async(std::launch::async, [&] { return checker.check(); }));
  // Every caller attaches to the one run in flight before it completes. The run's thread may
  // start the check function after the last caller has attached, so wait for both.
  EXPECT_TRUE(testing::eventually([&] {
    return checker.stats().requests_waiting == static_cast<std::size_t>(kCallers) &&
           runs.load() >= 1;
  }));
  EXPECT_EQ(runs.load(), 1);
  gate->open();
  for (auto& caller : callers) EXPECT_EQ(caller.get().status, Status::healthy);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(checker.stats().runs_started, 1u);
  EXPECT_EQ(checker.stats().requests_waiting, 0u);
}

TEST(HealthConcurrency, ManyThreadsCheckingWhileChecksChangeAndTimeOut) {
  metrics::Registry registry;
  auto gate = std::make_shared<Gate>();
  HealthChecker checker(quiet(&registry));
  std::atomic<int> calls{0};
  checker.add_check(
      "fast",
      [&] {
        ++calls;
        return true;
      },
      options(2s, 0ms));
  checker.add_check(
      "cached", [] { return CheckResult::degraded("meh"); }, options(2s, 20ms, false));
  checker.add_check(
      "hung", [gate] { return gate->wait(); }, options(50ms, 0ms));
  checker.add_check(
      "throws", []() -> bool { throw std::runtime_error("boom"); }, options(2s, 0ms));

  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  std::atomic<int> answered{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        HealthReport report = checker.check();
        EXPECT_EQ(report.status, Status::unhealthy);
        ++answered;
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop.load()) {
      std::promise<void> done;
      checker.check_async([&](HealthReport report) {
        EXPECT_GE(report.checks.size(), 4u);
        done.set_value();
      });
      done.get_future().wait();
    }
  });
  threads.emplace_back([&] {
    for (int i = 0; !stop.load(); ++i) {
      checker.add_check(
          "churn", [] {}, options(1s, 0ms, false));
      checker.remove_check("churn");
    }
  });
  // Enough rounds that requests overlap timeouts, cache expiry and the churn.
  EXPECT_TRUE(testing::eventually([&] { return answered.load() >= 20 && calls.load() >= 20; }));
  stop = true;
  for (auto& thread : threads) thread.join();
  gate->open();
  EXPECT_GE(answered.load(), 20);
  EXPECT_GE(calls.load(), 20);
}

TEST(HealthConcurrency, ReadinessFlagsFlipWhileProbesRun) {
  ReadinessChecker readiness(quiet());
  readiness.add_check(
      "cache", [] {}, options(2s, 0ms));
  std::atomic<bool> stop{false};
  std::atomic<int> ready_after_drain{0};
  std::atomic<bool> drained{false};
  std::atomic<int> probes_done{0};
  std::atomic<int> ready_seen{0};
  std::vector<std::thread> probes;
  for (int t = 0; t < 3; ++t) {
    probes.emplace_back([&] {
      while (!stop.load()) {
        const bool drain_seen = drained.load();
        ReadinessReport report = readiness.check();
        if (report.ready) ++ready_seen;
        if (drain_seen && report.ready) ++ready_after_drain;
        ++probes_done;
      }
    });
  }
  // Each flip lands while probes run: wait for probes on each side of it.
  auto more_probes = [&](int count) {
    const int target = probes_done.load() + count;
    return testing::eventually([&] { return probes_done.load() >= target; });
  };
  EXPECT_TRUE(more_probes(50));
  EXPECT_EQ(ready_seen.load(), 0);  // not started yet
  readiness.mark_started();
  EXPECT_TRUE(testing::eventually([&] { return ready_seen.load() > 0; }));
  readiness.begin_drain();
  drained = true;
  EXPECT_TRUE(more_probes(50));
  stop = true;
  for (auto& probe : probes) probe.join();
  EXPECT_EQ(ready_after_drain.load(), 0);
}

TEST(HealthConcurrency, HeartbeatsBeatWhileLiveReadsThem) {
  HeartbeatRegistry registry;
  std::atomic<bool> stop{false};
  std::vector<std::thread> loops;
  for (int t = 0; t < 3; ++t) {
    loops.emplace_back([&, t] {
      Heartbeat& mine = registry.heartbeat("loop" + std::to_string(t), 10s);
      while (!stop.load()) {
        mine.beat();
        registry.heartbeat("shared", 10s);
      }
    });
  }
  std::thread churn([&] {
    while (!stop.load()) {
      registry.heartbeat("transient", 10s);
      registry.remove("transient");
    }
  });
  int responses = 0;
  const auto until = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < until) {
    server::Response response = live_response(registry);
    EXPECT_EQ(response.status, 200u);
    ++responses;
  }
  stop = true;
  for (auto& loop : loops) loop.join();
  churn.join();
  EXPECT_GT(responses, 0);
  EXPECT_FALSE(registry.any_stale());
}

TEST(HealthConcurrency, DestroyingCheckersWithRunsInFlight) {
  for (int round = 0; round < 20; ++round) {
    auto gate = std::make_shared<Gate>();
    std::promise<void> answered;
    {
      CheckerOptions fast = quiet();
      fast.shutdown_grace = 5ms;
      HealthChecker checker(fast);
      checker.add_check(
          "stuck", [gate] { return gate->wait(); }, options(5s, 0ms));
      checker.add_check(
          "quick", [] {}, options(5s, 0ms));
      CheckOptions background;
      background.interval = 1ms;
      checker.add_check(
          "ticking", [] {}, background);
      checker.check_async([&](HealthReport) { answered.set_value(); });
    }
    EXPECT_EQ(answered.get_future().wait_for(5s), std::future_status::ready);
    gate->open();
  }
}

}  // namespace
}  // namespace monitoring::health
