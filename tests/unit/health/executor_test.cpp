#include "health/executor.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "test_util.hpp"

namespace monitoring::health::detail {
namespace {

using namespace std::chrono_literals;

using monitoring::testing::eventually;

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
  // post() counts a thread before starting it, so the cap is visible at once: no fourth
  // thread exists that could pick up the two queued tasks.
  EXPECT_EQ(pool.threads(), 3u);
  ASSERT_TRUE(eventually([&] { return running.load() == 3; }));
  EXPECT_EQ(pool.threads(), 3u);
  EXPECT_EQ(running.load(), 3);  // the cap holds: two tasks wait in the queue
  gate->open();
  ASSERT_TRUE(eventually([&] { return finished.load() == 5; }));
  EXPECT_TRUE(eventually([&] { return pool.threads() == 0; }));  // idle for 100 ms: retired
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
    ASSERT_TRUE(eventually([&] { return started.load(); }));
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
  // One thread runs callbacks in time order: once the last one ran, every earlier one did (or
  // was dropped), so a cancelled callback that ran anyway is in `order` by now.
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return !order.empty() && order.back() == 3;
  }));
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
