// Logging from many threads at once. These suites also run under ThreadSanitizer.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "monitoring/logging.hpp"
#include "support/eventually.hpp"
#include "support/json_reader.hpp"
#include "unit/logging/test_support.hpp"

namespace {

namespace logging = monitoring::logging;
namespace context = monitoring::context;
using monitoring::StructuredLogger;
using monitoring::testing::eventually;
using test_support::file_options;
using test_support::flushed_records;
using test_support::TempDir;

class LoggingConcurrency : public ::testing::Test {
 protected:
  void TearDown() override { logging::shutdown(); }
  TempDir dir_;
};

TEST_F(LoggingConcurrency, EveryThreadsRecordsArriveWithItsOwnContext) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("shared");  // one logger used by every thread
  constexpr int kThreads = 4;
  constexpr int kPerThread = 1500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&logger, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // The context changes every 100 records: each change travels through the queue.
        auto user = logger.with_user(t * 1000 + i / 100, "user");
        logger.info("work", {{"thread", t}, {"seq", i}});
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kThreads * kPerThread));
  std::map<int, int> next;  // per thread: the records of one thread stay in order
  std::set<double> thread_ids;
  for (const auto& r : records) {
    const int t = static_cast<int>(r["thread"].number);
    const int seq = static_cast<int>(r["seq"].number);
    ASSERT_EQ(seq, next[t]++);
    ASSERT_EQ(r["user.id"].string, std::to_string(t * 1000 + seq / 100));
    thread_ids.insert(r["process.thread.id"].number);
  }
  EXPECT_EQ(thread_ids.size(), static_cast<std::size_t>(kThreads));
}

TEST_F(LoggingConcurrency, SnapshotCarriesTheContextToAWorker) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("carrier");
  boost::asio::thread_pool pool(2);
  {
    auto request = logger.with_request_id("req-main");
    auto user = logger.with_user(42, "neo");
    const monitoring::ContextSnapshot snapshot = context::current();
    std::thread worker([&] {
      logger.info("worker without context");
      monitoring::ContextScope scope(snapshot);
      logger.info("worker with the caller's context");
    });
    worker.join();
    boost::asio::post(pool, context::bind([&] { logger.info("asio handler"); }));
    pool.join();
  }
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 3u);
  EXPECT_FALSE(records[0].has("request_id"));
  EXPECT_FALSE(records[0].has("user.id"));
  for (std::size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(records[i]["request_id"].string, "req-main") << i;
    EXPECT_EQ(records[i]["user.id"].string, "42") << i;
    EXPECT_EQ(records[i]["user.name"].string, "neo") << i;
  }
}

TEST_F(LoggingConcurrency, LoggersComeAndGoWhileOthersLog) {
  logging::configure(file_options(dir_.path()));
  constexpr int kThreads = 3;
  constexpr int kLoggersPerThread = 300;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < kLoggersPerThread; ++i) {
        // Destroyed right after logging: its record is still queued and must stay readable.
        StructuredLogger logger("short-lived." + std::to_string(t));
        logger.add_context({{"generation", i}});
        logger.add_context({{"thread", t}});
        logger.info("once");
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kThreads * kLoggersPerThread));
  std::map<int, int> next;
  for (const auto& r : records) {
    const int t = static_cast<int>(r["thread"].number);
    EXPECT_EQ(r["log.logger"].string, "short-lived." + std::to_string(t));
    ASSERT_EQ(static_cast<int>(r["generation"].number), next[t]++);
  }
}

TEST_F(LoggingConcurrency, ReconfiguringWhileLoggingLosesNothing) {
  auto base = file_options(dir_.path());
  base.max_bytes = 0;  // one file to count in
  logging::configure(base);
  std::atomic<bool> stop{false};
  std::atomic<int> logged{0};
  std::thread producer([&] {
    StructuredLogger logger("steady");
    while (!stop.load() && logged.load() < 40000) {
      logger.info("tick", {{"n", logged.load()}});
      logged.fetch_add(1);
    }
  });
  for (int round = 0; round < 3; ++round) {
    // Each reconfiguration lands while the producer is logging: wait for its next records.
    const int target = logged.load() + 200;
    ASSERT_TRUE(eventually([&] { return logged.load() >= std::min(target, 40000); }));
    auto options = base;
    options.level =
        round % 2 ? monitoring::logging::Level::kInfo : monitoring::logging::Level::kDebug;
    logging::configure(options);
  }
  stop.store(true);
  producer.join();
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), static_cast<std::size_t>(logged.load()));
  for (std::size_t i = 0; i < records.size(); ++i)
    ASSERT_EQ(records[i]["n"].number, static_cast<double>(i));
}

TEST_F(LoggingConcurrency, ShutdownWhileThreadsLogNeverCrashesAndEveryRecordIsAccounted) {
  logging::configure(file_options(dir_.path()));
  const auto before = logging::stats();
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> logged{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      StructuredLogger logger("racer");
      while (!stop.load()) {
        logger.info("racing");
        logged.fetch_add(1);
      }
    });
  }
  // Shut down while every thread is logging, and keep logging after it.
  ASSERT_TRUE(eventually([&] { return logged.load() >= 3000; }));
  logging::shutdown();
  const std::uint64_t at_shutdown = logged.load();
  ASSERT_TRUE(eventually([&] { return logged.load() >= at_shutdown + 300; }));
  stop.store(true);
  for (auto& thread : threads) thread.join();
  // Starting again accounts for records that raced with the shutdown (dropped, counted).
  logging::configure(file_options(dir_.path()));
  logging::flush();
  const auto after = logging::stats();
  EXPECT_EQ((after.records_written - before.records_written) +
                (after.records_dropped - before.records_dropped),
            logged.load());
  EXPECT_GT(after.records_dropped, before.records_dropped);
}

TEST_F(LoggingConcurrency, ShortLivedThreadsHandTheirQueuesBack) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("ephemeral");
  for (int round = 0; round < 20; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, round, t] { logger.info("hello", {{"id", round * 4 + t}}); });
    for (auto& thread : threads) thread.join();
  }
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 80u);
  std::set<int> ids;
  for (const auto& r : records) ids.insert(static_cast<int>(r["id"].number));
  EXPECT_EQ(ids.size(), 80u);
}

TEST_F(LoggingConcurrency, ObserverAndFlushFromManyThreads) {
  std::atomic<int> observed{0};
  logging::RecordSubscription subscription = logging::subscribe_records(
      [&](const logging::RecordView&) { observed.fetch_add(1); }, logging::Level::kWarning);
  logging::configure(file_options(dir_.path()));
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([] {
      StructuredLogger logger("flusher");
      for (int i = 0; i < 200; ++i) {
        logger.warning("w");
        logger.info("i");
        if (i % 50 == 0) logging::flush();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  logging::flush();
  subscription.reset();
  EXPECT_EQ(observed.load(), 600);
  EXPECT_EQ(flushed_records(dir_.path()).size(), 1200u);
}

}  // namespace
