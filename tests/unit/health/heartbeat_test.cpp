#include <gtest/gtest.h>

#include "monitoring/health.hpp"
#include "support/manual_clock.hpp"

namespace monitoring::health {
namespace {

using namespace std::chrono_literals;
using monitoring::testing::ManualClock;

TEST(Heartbeat, FreshUntilMaxAgePassesThenStaleUntilItBeatsAgain) {
  ManualClock clock;
  HeartbeatRegistry registry(clock.function());
  Heartbeat& loop = registry.heartbeat("bot_loop", 80ms);
  EXPECT_FALSE(loop.stale());
  EXPECT_FALSE(registry.any_stale());
  clock.advance(80ms);  // exactly max_age: not stale yet
  EXPECT_FALSE(loop.stale());
  EXPECT_EQ(loop.age(), 80ms);
  clock.advance(1ms);
  EXPECT_TRUE(loop.stale());
  EXPECT_TRUE(registry.any_stale());
  loop.beat();
  EXPECT_FALSE(registry.any_stale());
  EXPECT_EQ(loop.age(), 0ms);
}

TEST(Heartbeat, CallingAgainBeatsReturnsTheSameHeartbeatAndUpdatesMaxAge) {
  ManualClock clock;
  HeartbeatRegistry registry(clock.function());
  Heartbeat& first = registry.heartbeat("worker", 50ms);
  clock.advance(100ms);
  EXPECT_TRUE(first.stale());
  Heartbeat& second = registry.heartbeat("worker", 10s);
  EXPECT_EQ(&first, &second);
  EXPECT_FALSE(second.stale());
  EXPECT_EQ(second.max_age(), 10s);
  EXPECT_EQ(registry.size(), 1u);
}

TEST(Heartbeat, SnapshotIsSortedAndRemovedHeartbeatsNoLongerCount) {
  ManualClock clock;
  HeartbeatRegistry registry(clock.function());
  registry.heartbeat("zeta", 20ms);
  registry.heartbeat("alpha", 10s);
  clock.advance(60ms);
  auto entries = registry.snapshot();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "alpha");
  EXPECT_FALSE(entries[0].stale);
  EXPECT_DOUBLE_EQ(entries[0].max_age_seconds, 10.0);
  EXPECT_EQ(entries[1].name, "zeta");
  EXPECT_TRUE(entries[1].stale);
  EXPECT_DOUBLE_EQ(entries[1].age_seconds, 0.06);
  EXPECT_DOUBLE_EQ(entries[0].age_seconds, 0.06);

  Heartbeat& zeta = registry.heartbeat("zeta", 20ms);
  EXPECT_TRUE(registry.remove("zeta"));
  EXPECT_FALSE(registry.remove("zeta"));
  zeta.beat();  // the reference stays valid after removal
  clock.advance(60ms);
  EXPECT_TRUE(zeta.stale());  // stale, but no longer watched
  EXPECT_FALSE(registry.any_stale());
  EXPECT_EQ(registry.size(), 1u);
}

TEST(Heartbeat, RejectsEmptyNamesAndNonPositiveMaxAge) {
  HeartbeatRegistry registry;
  EXPECT_THROW(registry.heartbeat("", 1s), Error);
  EXPECT_THROW(registry.heartbeat("loop", 0ms), Error);
  EXPECT_THROW(registry.heartbeat("loop", -5ms), Error);
}

TEST(Heartbeat, WithoutAClockAgesOnTheSteadyClock) {
  Heartbeat beat("real", 10s);
  const auto before = std::chrono::steady_clock::now();
  beat.beat();
  const auto age = beat.age();
  EXPECT_GE(age, 0ms);
  EXPECT_LE(age, std::chrono::steady_clock::now() - before);
  EXPECT_FALSE(beat.stale());
}

TEST(Heartbeat, ProcessWideHeartbeatIsReachableFromNamespaceMonitoring) {
  Heartbeat& beat = monitoring::heartbeat("unit_test_loop", 30s);
  EXPECT_EQ(&beat, &HeartbeatRegistry::global().heartbeat("unit_test_loop", 30s));
  EXPECT_FALSE(beat.stale());
  EXPECT_TRUE(HeartbeatRegistry::global().remove("unit_test_loop"));
  // The 2GETPRO class names are reachable unqualified from namespace monitoring too.
  monitoring::HealthChecker* health = nullptr;
  monitoring::ReadinessChecker* readiness = nullptr;
  EXPECT_EQ(health, nullptr);
  EXPECT_EQ(readiness, nullptr);
}

}  // namespace
}  // namespace monitoring::health
