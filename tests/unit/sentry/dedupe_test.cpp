// One exception object, one Sentry event and one errors_total increment, however many
// error_handlers, logger.exception calls and rethrows see it; two objects, two reports.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ingest_peer.hpp"
#include "monitoring/logging.hpp"
#include "monitoring/sentry.hpp"
#include "report_support.hpp"

namespace sentry = monitoring::sentry;
using sentry_test::errors_total;
using sentry_test::IngestPeer;
using sentry_test::LogToTempDir;
using namespace std::chrono_literals;

namespace {

constexpr const char* kType = "std::invalid_argument";
constexpr const char* kModule = "dedupe";

[[gnu::noinline]] void decline_card(int order) {
  throw std::invalid_argument("card declined for order " + std::to_string(order));
}

/// A client with log capture on (records at error become events) and logging to a temp dir.
class SentryDedupe : public ::testing::Test {
 protected:
  void SetUp() override {
    sentry::Options options;
    options.dsn = peer_.dsn();
    options.capture_logs = true;
    options.retry_backoff = 20ms;
    sentry::init(options);
    errors_before_ = errors_total(kType, kModule);
  }
  void TearDown() override { sentry::close(2s); }

  /// Events the ingest received once every record was observed and every event sent.
  std::size_t events() {
    monitoring::logging::flush();
    EXPECT_TRUE(sentry::flush(5s));
    return peer_.with_item("event").size();
  }
  double errors_counted() const { return errors_total(kType, kModule) - errors_before_; }

  LogToTempDir logs_;
  IngestPeer peer_;
  double errors_before_ = 0;
};

auto declining_handler() {
  return sentry::error_handler({{"module", kModule}}, [](int order) {
    decline_card(order);
    return order;
  });
}

}  // namespace

TEST_F(SentryDedupe, NestedErrorHandlersReportOnce) {
  auto outer = sentry::error_handler(
      {{"module", kModule}},
      [inner = declining_handler()](int order) mutable { return inner(order); });
  EXPECT_THROW(outer(1), std::invalid_argument);
  EXPECT_EQ(events(), 1u);
  EXPECT_EQ(errors_counted(), 1);
  EXPECT_EQ(logs_.records().size(), 2u) << "each handler still writes its log line";
}

TEST_F(SentryDedupe, ErrorHandlerThenTheCallersLoggerExceptionReportOnce) {
  auto handler = declining_handler();
  monitoring::logging::StructuredLogger logger(kModule);
  try {
    handler(2);
  } catch (...) {
    logger.exception("order 2 failed");
  }
  EXPECT_EQ(events(), 1u);
  EXPECT_EQ(errors_counted(), 1);
  const auto records = logs_.records();
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1]["message"].string, "order 2 failed");
}

TEST_F(SentryDedupe, LoggerExceptionTwiceReportsOnce) {
  monitoring::logging::StructuredLogger logger(kModule);
  try {
    decline_card(3);
  } catch (...) {
    logger.exception("order 3 failed");
    logger.exception("order 3 failed, said again");
  }
  EXPECT_EQ(events(), 1u);
  EXPECT_EQ(errors_counted(), 1);
  EXPECT_EQ(logs_.records().size(), 2u);
}

TEST_F(SentryDedupe, CaptureExceptionTwiceSendsOnceAndReturnsNothingTheSecondTime) {
  monitoring::logging::StructuredLogger logger(kModule);
  try {
    decline_card(4);
  } catch (...) {
    EXPECT_EQ(sentry::capture_exception().size(), 32u);
    EXPECT_EQ(sentry::capture_exception(), "");
    logger.exception("order 4 failed");  // counted; not a second event
  }
  EXPECT_EQ(events(), 1u);
  EXPECT_EQ(errors_counted(), 1);
}

TEST_F(SentryDedupe, RethrownOutOfACoroutineThroughTwoAwaitableHandlersReportsOnce) {
  auto inner =
      sentry::error_handler({{"module", kModule}}, [](int order) -> boost::asio::awaitable<int> {
        decline_card(order);
        co_return order;
      });
  auto outer = sentry::error_handler(
      {{"module", kModule}},
      [&inner](int order) -> boost::asio::awaitable<int> { co_return co_await inner(order); });
  boost::asio::io_context io;
  auto result = boost::asio::co_spawn(io, outer(5), boost::asio::use_future);
  io.run();
  EXPECT_THROW(result.get(), std::invalid_argument);
  EXPECT_EQ(events(), 1u);
  EXPECT_EQ(errors_counted(), 1);
}

TEST_F(SentryDedupe, RethrownOnAnotherThreadReportsOnce) {
  std::exception_ptr failure;
  auto handler = declining_handler();
  try {
    handler(6);
  } catch (...) {
    failure = std::current_exception();
  }
  std::thread([failure] {
    auto rethrow = sentry::error_handler({{"module", kModule}},
                                         [&failure] { std::rethrow_exception(failure); });
    EXPECT_THROW(rethrow(), std::invalid_argument);
  }).join();
  EXPECT_EQ(events(), 1u);
  EXPECT_EQ(errors_counted(), 1);
}

TEST_F(SentryDedupe, DifferentExceptionsWithEqualTypeAndMessageAreEachReported) {
  auto handler = declining_handler();
  EXPECT_THROW(handler(7), std::invalid_argument);
  EXPECT_THROW(handler(7), std::invalid_argument);
  EXPECT_EQ(events(), 2u);
  EXPECT_EQ(errors_counted(), 2);
}

// One exception_ptr captured and logged from many threads at once: one event, one count.
TEST(SentryDedupeConcurrency, ThreadsReportingOneExceptionSendOneEvent) {
  LogToTempDir logs;
  IngestPeer peer;
  sentry::Options options;
  options.dsn = peer.dsn();
  options.capture_logs = true;
  sentry::init(options);
  const double before = errors_total(kType, kModule);
  std::exception_ptr failure;
  try {
    decline_card(8);
  } catch (...) {
    failure = std::current_exception();
  }
  std::atomic<int> sent{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      monitoring::logging::StructuredLogger logger(kModule);
      if (!sentry::capture_exception(failure).empty()) sent.fetch_add(1);
      logger.exception("order 8 failed", failure);
    });
  for (auto& thread : threads) thread.join();
  monitoring::logging::flush();
  EXPECT_TRUE(sentry::flush(5s));
  EXPECT_EQ(sent.load(), 1);
  EXPECT_EQ(peer.with_item("event").size(), 1u);
  EXPECT_EQ(errors_total(kType, kModule) - before, 1);
  EXPECT_EQ(logs.records().size(), 8u);
  sentry::close(2s);
}
