// Record subscriptions: any number of independent observers, RAII unsubscription, and the
// log position that lets a reader wait until the observers have seen a thread's records.

#include "monitoring/logging/observer.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "monitoring/logging.hpp"
#include "support/eventually.hpp"
#include "unit/logging/test_support.hpp"

namespace {

namespace logging = monitoring::logging;
using monitoring::StructuredLogger;
using monitoring::testing::eventually;
using test_support::file_options;
using test_support::TempDir;

/// Messages one observer saw, safe to read from the test thread.
struct Seen {
  std::mutex mutex;
  std::vector<std::string> messages;
  logging::RecordObserver observer() {
    return [this](const logging::RecordView& view) {
      std::lock_guard lock(mutex);
      messages.emplace_back(view.message);
    };
  }
  std::vector<std::string> copy() {
    std::lock_guard lock(mutex);
    return messages;
  }
};

class RecordObservers : public ::testing::Test {
 protected:
  void SetUp() override { logging::configure(file_options(dir_.path())); }
  void TearDown() override { logging::shutdown(); }
  TempDir dir_;
};

TEST_F(RecordObservers, TwoObserversBothSeeEveryRecord) {
  Seen first, second;
  auto a = logging::subscribe_records(first.observer());
  auto b = logging::subscribe_records(second.observer());
  StructuredLogger logger("two");
  logger.info("one");
  logger.info("two");
  logging::flush();
  const std::vector<std::string> expected{"one", "two"};
  EXPECT_EQ(first.copy(), expected);
  EXPECT_EQ(second.copy(), expected);
}

TEST_F(RecordObservers, EachObserverHasItsOwnLevel) {
  Seen info, errors;
  auto a = logging::subscribe_records(info.observer(), logging::Level::kInfo);
  auto b = logging::subscribe_records(errors.observer(), logging::Level::kError);
  StructuredLogger logger("levels");
  logger.info("fine");
  logger.error("bad");
  logging::flush();
  EXPECT_EQ(info.copy(), (std::vector<std::string>{"fine", "bad"}));
  EXPECT_EQ(errors.copy(), (std::vector<std::string>{"bad"}));
}

TEST_F(RecordObservers, RemovingOneLeavesTheOther) {
  Seen kept, removed;
  auto a = logging::subscribe_records(kept.observer());
  auto b = logging::subscribe_records(removed.observer());
  StructuredLogger logger("remove");
  logger.info("before");
  logging::flush();
  b.reset();
  EXPECT_FALSE(b);
  EXPECT_TRUE(a);
  logger.info("after");
  logging::flush();
  EXPECT_EQ(kept.copy(), (std::vector<std::string>{"before", "after"}));
  EXPECT_EQ(removed.copy(), (std::vector<std::string>{"before"}));
}

TEST_F(RecordObservers, MovingASubscriptionKeepsItAndDestroyingItUnsubscribes) {
  Seen seen;
  logging::RecordSubscription outer;
  {
    auto inner = logging::subscribe_records(seen.observer());
    outer = std::move(inner);
    EXPECT_FALSE(inner);  // NOLINT(bugprone-use-after-move): a moved-from handle is empty
  }
  StructuredLogger logger("moved");
  logger.info("kept");
  logging::flush();
  { [[maybe_unused]] auto gone = std::move(outer); }
  logger.info("dropped");
  logging::flush();
  EXPECT_EQ(seen.copy(), (std::vector<std::string>{"kept"}));
}

// Defined behaviour: an observer may unsubscribe itself (or another one) from its callback.
// The call returns at once (no wait for the running callback, which is the caller), and from
// then on, even within the same batch and the same record, the removed observer is not called.
TEST_F(RecordObservers, UnsubscribeFromInsideACallbackTakesEffectAtOnce) {
  std::atomic<int> self_calls{0};
  std::atomic<int> other_calls{0};
  logging::RecordSubscription self;
  logging::RecordSubscription other;
  self = logging::subscribe_records([&](const logging::RecordView&) {
    ++self_calls;
    other.reset();  // subscribed after this one: not called for this very record
    self.reset();
  });
  other = logging::subscribe_records([&](const logging::RecordView&) { ++other_calls; });
  StructuredLogger logger("inside");
  for (int i = 0; i < 5; ++i) logger.info("record");  // one batch, most likely
  logging::flush();
  EXPECT_EQ(self_calls.load(), 1);
  EXPECT_EQ(other_calls.load(), 0);
}

TEST_F(RecordObservers, UnsubscribeWaitsForACallbackInProgress) {
  std::mutex mutex;
  std::condition_variable cv;
  bool entered = false, release = false;
  std::atomic<bool> callback_done{false};
  auto subscription = logging::subscribe_records([&](const logging::RecordView&) {
    std::unique_lock lock(mutex);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    callback_done = true;
  });
  StructuredLogger logger("blocking");
  logger.info("held");
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return entered; }));
  }
  std::atomic<bool> reset_returned{false};
  bool done_when_reset_returned = false;
  std::thread remover([&] {
    subscription.reset();
    done_when_reset_returned = callback_done.load();
    reset_returned = true;
  });
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
  remover.join();
  EXPECT_TRUE(reset_returned.load());
  EXPECT_TRUE(done_when_reset_returned) << "reset() returned while the observer was running";
}

TEST_F(RecordObservers, LogPositionIsObservedOnceTheThreadsRecordsWereHandedOver) {
  Seen seen;
  auto subscription = logging::subscribe_records(seen.observer());
  StructuredLogger logger("position");
  logger.info("marked");
  const logging::LogPosition position = logging::current_log_position();
  ASSERT_TRUE(position);
  std::chrono::system_clock::time_point record_time;
  ASSERT_TRUE(logging::wait_until_observed(position, std::chrono::seconds(10), &record_time));
  // No flush: the wait alone guarantees the observer has seen the record.
  const auto messages = seen.copy();
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.back(), "marked");
  const auto now = std::chrono::system_clock::now();
  EXPECT_LE(record_time, now);
  EXPECT_GT(record_time, now - std::chrono::seconds(10));
}

TEST_F(RecordObservers, WaitingForAPositionGivesUpWhenLoggingStops) {
  StructuredLogger logger("stopped");
  logger.info("x");
  const logging::LogPosition position = logging::current_log_position();
  ASSERT_TRUE(position);
  logging::shutdown();
  EXPECT_FALSE(logging::wait_until_observed(position, std::chrono::seconds(10)));
}

// The crash handler's variant: it returns once the thread's records were observed, never
// waits on the backend from the backend itself, and gives up at once when logging is off.
TEST_F(RecordObservers, SignalHandlerWaitSeesTheThreadsRecordsObserved) {
  Seen seen;
  std::atomic<int> backend_waits{0};
  std::atomic<bool> backend_wait_result{true};
  auto subscription = logging::subscribe_records([&](const logging::RecordView& view) {
    if (view.message == "from the backend's view") {
      backend_wait_result = logging::wait_until_observed_in_signal_handler(10'000'000'000);
      ++backend_waits;
    }
  });
  auto recorder = logging::subscribe_records(seen.observer());
  StructuredLogger logger("crashing");
  logger.info("last words");
  ASSERT_TRUE(logging::wait_until_observed_in_signal_handler(10'000'000'000));
  ASSERT_FALSE(seen.copy().empty());
  EXPECT_EQ(seen.copy().back(), "last words");

  logger.info("from the backend's view");
  logging::flush();
  EXPECT_EQ(backend_waits.load(), 1);
  EXPECT_FALSE(backend_wait_result.load()) << "the backend cannot wait for itself";

  logger.info("before the shutdown");
  logging::shutdown();
  EXPECT_FALSE(logging::wait_until_observed_in_signal_handler(10'000'000'000));
}

class RecordObserversConcurrency : public RecordObservers {};

// Subscribing and unsubscribing while other threads log: every observer sees only records
// while subscribed (never after reset() returned) and the long-lived one sees every record.
TEST_F(RecordObserversConcurrency, SubscribeAndUnsubscribeWhileLogging) {
  std::atomic<int> all{0};
  auto steady = logging::subscribe_records([&](const logging::RecordView&) { ++all; });
  constexpr int kThreads = 3;
  constexpr int kPerThread = 2000;
  std::atomic<bool> logging_done{false};
  std::atomic<int> late_calls{0};
  std::atomic<int> churned{0};
  std::thread churner([&] {
    while (!logging_done.load()) {
      auto gone = std::make_shared<std::atomic<bool>>(false);
      auto subscription =
          logging::subscribe_records([gone, &late_calls](const logging::RecordView&) {
            if (gone->load()) ++late_calls;
          });
      subscription.reset();
      gone->store(true);
      ++churned;
    }
  });
  // The loggers start once the churner has run a round, so the two overlap even when the
  // churner's thread is scheduled late (on a loaded machine the loggers could finish first).
  std::vector<std::thread> loggers;
  for (int t = 0; t < kThreads; ++t)
    loggers.emplace_back([&churned] {
      while (churned.load() == 0) std::this_thread::yield();
      StructuredLogger logger("churn");
      for (int i = 0; i < kPerThread; ++i) logger.info("r", {{"i", i}});
    });
  for (auto& thread : loggers) thread.join();
  logging::flush();
  logging_done = true;
  churner.join();
  EXPECT_EQ(all.load(), kThreads * kPerThread);
  EXPECT_EQ(late_calls.load(), 0);
}

}  // namespace
