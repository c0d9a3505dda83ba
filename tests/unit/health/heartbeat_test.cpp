#include <gtest/gtest.h>

#include <thread>

#include "monitoring/health.hpp"

namespace monitoring::health {
namespace {

using namespace std::chrono_literals;

TEST(Heartbeat, FreshUntilMaxAgePassesThenStaleUntilItBeatsAgain) {
  HeartbeatRegistry registry;
  Heartbeat& loop = registry.heartbeat("bot_loop", 80ms);
  EXPECT_FALSE(loop.stale());
  EXPECT_FALSE(registry.any_stale());
  std::this_thread::sleep_for(150ms);
  EXPECT_TRUE(loop.stale());
  EXPECT_TRUE(registry.any_stale());
  loop.beat();
  EXPECT_FALSE(registry.any_stale());
}

TEST(Heartbeat, CallingAgainBeatsReturnsTheSameHeartbeatAndUpdatesMaxAge) {
  HeartbeatRegistry registry;
  Heartbeat& first = registry.heartbeat("worker", 50ms);
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(first.stale());
  Heartbeat& second = registry.heartbeat("worker", 10s);
  EXPECT_EQ(&first, &second);
  EXPECT_FALSE(second.stale());
  EXPECT_EQ(second.max_age(), 10s);
  EXPECT_EQ(registry.size(), 1u);
}

TEST(Heartbeat, SnapshotIsSortedAndRemovedHeartbeatsNoLongerCount) {
  HeartbeatRegistry registry;
  registry.heartbeat("zeta", 20ms);
  registry.heartbeat("alpha", 10s);
  std::this_thread::sleep_for(60ms);
  auto entries = registry.snapshot();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "alpha");
  EXPECT_FALSE(entries[0].stale);
  EXPECT_DOUBLE_EQ(entries[0].max_age_seconds, 10.0);
  EXPECT_EQ(entries[1].name, "zeta");
  EXPECT_TRUE(entries[1].stale);
  EXPECT_GE(entries[1].age_seconds, 0.02);

  Heartbeat& zeta = registry.heartbeat("zeta", 20ms);
  EXPECT_TRUE(registry.remove("zeta"));
  EXPECT_FALSE(registry.remove("zeta"));
  zeta.beat();  // the reference stays valid after removal
  std::this_thread::sleep_for(60ms);
  EXPECT_FALSE(registry.any_stale());
  EXPECT_EQ(registry.size(), 1u);
}

TEST(Heartbeat, RejectsEmptyNamesAndNonPositiveMaxAge) {
  HeartbeatRegistry registry;
  EXPECT_THROW(registry.heartbeat("", 1s), Error);
  EXPECT_THROW(registry.heartbeat("loop", 0ms), Error);
  EXPECT_THROW(registry.heartbeat("loop", -5ms), Error);
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
