#include "health/executor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "test_util.hpp"

namespace monitoring::health::detail {
namespace {

using namespace std::chrono_literals;

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

TEST(ElasticPool, GrowsOnDemandUpToItsCapAndRetiresIdleThreads) {
  ElasticPool pool(3, 100ms);
  auto gate = std::make_shared<testing::Gate>();
  std::atomic<int> running{0};
  std::atomic<int> finished{0};
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(pool.post([&, gate] {
      ++running;
      gate->wait();
      ++finished;
    }));
  ASSERT_TRUE(wait_for([&] { return running.load() == 3; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(running.load(), 3);  // the cap holds: two tasks wait in the queue
  EXPECT_EQ(pool.threads(), 3u);
  gate->open();
  ASSERT_TRUE(wait_for([&] { return finished.load() == 5; }));
  EXPECT_TRUE(wait_for([&] { return pool.threads() == 0; }));  // idle for 100 ms: retired
  std::promise<void> again;
  ASSERT_TRUE(pool.post([&] { again.set_value(); }));
  EXPECT_EQ(again.get_future().wait_for(10s), std::future_status::ready);
}

TEST(ElasticPool, ShutdownDoesNotWaitForAStuckTaskBeyondTheGrace) {
  auto gate = std::make_shared<testing::Gate>();
  std::atomic<bool> started{false};
  {
    ElasticPool pool(2, 10s);
    ASSERT_TRUE(pool.post([&started, gate] {
      started = true;
      gate->wait();
    }));
    ASSERT_TRUE(wait_for([&] { return started.load(); }));
    const auto before = std::chrono::steady_clock::now();
    pool.shutdown(50ms);
    EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
    EXPECT_FALSE(pool.post([] {}));
  }
  gate->open();  // the abandoned thread finishes on its own, after the pool is gone
}

TEST(TimerThread, RunsCallbacksInTimeOrderAndHonoursCancel) {
  TimerThread timer;
  std::mutex mutex;
  std::vector<int> order;
  auto record = [&](int value) {
    return [&, value] {
      std::lock_guard lock(mutex);
      order.push_back(value);
    };
  };
  const auto now = std::chrono::steady_clock::now();
  timer.schedule(now + 60ms, record(3));
  timer.schedule(now + 20ms, record(1));
  TimerThread::Ticket cancelled = timer.schedule(now + 40ms, record(99));
  timer.schedule(now + 40ms, record(2));
  cancelled.cancel();
  ASSERT_TRUE(wait_for([&] {
    std::lock_guard lock(mutex);
    return order.size() == 3;
  }));
  std::this_thread::sleep_for(50ms);
  std::lock_guard lock(mutex);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(TimerThread, ScheduleAfterStopIsIgnoredAndTicketsOutliveTheTimer) {
  TimerThread::Ticket ticket;
  std::atomic<bool> ran{false};
  {
    TimerThread timer;
    ticket = timer.schedule(std::chrono::steady_clock::now() + 10s, [&] { ran = true; });
    timer.stop();
    timer.schedule(std::chrono::steady_clock::now(), [&] { ran = true; });
  }
  ticket.cancel();  // the timer is gone: nothing happens
  EXPECT_FALSE(ran.load());
}

}  // namespace
}  // namespace monitoring::health::detail
