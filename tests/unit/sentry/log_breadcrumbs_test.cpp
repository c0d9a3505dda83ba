// Breadcrumbs from the log in order: an event carries every record its thread logged before
// the capture (the backend turns records into breadcrumbs asynchronously), and none logged
// after it. Also: Sentry's record subscription leaves the application's alone.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ingest_peer.hpp"
#include "monitoring/logging.hpp"
#include "monitoring/logging/observer.hpp"
#include "monitoring/sentry.hpp"

namespace {

namespace sentry = monitoring::sentry;
namespace logging = monitoring::logging;
using sentry_test::IngestPeer;
using sentry_test::wait_for;
using namespace std::chrono_literals;

sentry::Options log_capturing_options(const IngestPeer& peer) {
  sentry::Options options;
  options.dsn = peer.dsn();
  options.environment = "test";
  options.capture_logs = true;
  options.retry_backoff = 20ms;
  options.http_timeout = 2000ms;
  return options;
}

/// Logging to a file in a fresh directory (no console) for the test's lifetime.
class LogBreadcrumbs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("monitoring-sentry-crumbs-" + std::to_string(::getpid()));
    logging::LoggingOptions options;
    options.log_dir = dir_.string();
    options.console = logging::ConsoleTarget::kNone;
    logging::configure(options);
  }
  void TearDown() override {
    sentry::close(2s);
    logging::shutdown();
    std::filesystem::remove_all(dir_);
  }

  /// The messages of the breadcrumbs of the only event the peer received.
  static std::vector<std::string> crumbs_of_the_event(const IngestPeer& peer) {
    EXPECT_TRUE(sentry::flush(10s));
    const auto envelopes = peer.with_item("event");
    EXPECT_EQ(envelopes.size(), 1u);
    std::vector<std::string> messages;
    if (envelopes.empty()) return messages;
    for (const auto& crumb : (*envelopes[0].item("event"))["breadcrumbs"]["values"].array)
      messages.push_back(crumb["message"].string);
    return messages;
  }

  std::filesystem::path dir_;
};

[[noreturn]] void charge(int) {
  throw std::runtime_error("card declined");
}

TEST_F(LogBreadcrumbs, TheRecordLoggedJustBeforeAnErrorIsTheEventsLastBreadcrumb) {
  IngestPeer peer;
  sentry::init(log_capturing_options(peer));
  monitoring::StructuredLogger logger("payments");
  auto handler = sentry::error_handler({{"module", "payments"}}, [&](int id) {
    logger.info("step one", {{"id", id}});
    charge(id);
  });
  EXPECT_THROW(handler(7), std::runtime_error);
  const auto crumbs = crumbs_of_the_event(peer);
  ASSERT_FALSE(crumbs.empty()) << "the record logged before the capture is missing";
  EXPECT_EQ(crumbs.back(), "step one");
}

TEST_F(LogBreadcrumbs, EveryRecordBeforeTheCaptureInOrder) {
  IngestPeer peer;
  sentry::init(log_capturing_options(peer));
  monitoring::StructuredLogger logger("payments");
  auto handler = sentry::error_handler({{"module", "payments"}}, [&](int id) {
    logger.info("validate");
    logger.warning("retrying");
    logger.info("charge");
    charge(id);
  });
  EXPECT_THROW(handler(8), std::runtime_error);
  const auto crumbs = crumbs_of_the_event(peer);
  ASSERT_GE(crumbs.size(), 3u);
  EXPECT_EQ(std::vector<std::string>(crumbs.end() - 3, crumbs.end()),
            (std::vector<std::string>{"validate", "retrying", "charge"}));
}

// LOG_BACKTRACE: debug records kept below the INFO level become the breadcrumbs of the event
// of the exception logged after them, in order, and no second event.
TEST_F(LogBreadcrumbs, TheBacktraceBecomesTheErrorEventsBreadcrumbs) {
  logging::LoggingOptions options;
  options.log_dir = dir_.string();
  options.console = logging::ConsoleTarget::kNone;
  options.backtrace = 8;
  logging::configure(options);
  IngestPeer peer;
  sentry::init(log_capturing_options(peer));
  monitoring::StructuredLogger logger("payments");
  logger.debug("loaded the invoice", {{"invoice", 17}});
  logger.debug("called the provider");
  try {
    charge(17);
  } catch (...) {
    logger.exception("payment failed");
  }
  logging::flush();  // the backend has handed the records to Sentry's observer
  ASSERT_TRUE(sentry::flush(10s));
  const auto envelopes = peer.with_item("event");
  ASSERT_EQ(envelopes.size(), 1u);
  const auto& event = *envelopes[0].item("event");
  const auto& crumbs = event["breadcrumbs"]["values"].array;
  ASSERT_GE(crumbs.size(), 2u);
  const auto& first = crumbs[crumbs.size() - 2];
  const auto& second = crumbs[crumbs.size() - 1];
  EXPECT_EQ(first["message"].string, "loaded the invoice");
  EXPECT_EQ(first["level"].string, "debug");
  EXPECT_EQ(first["category"].string, "payments");
  EXPECT_EQ(first["data"]["invoice"].string, "17");
  EXPECT_EQ(second["message"].string, "called the provider");
  EXPECT_EQ(event["exception"]["values"][0]["value"].string, "card declined");
}

// The worker is held (before_send of an earlier event blocks) until records another thread
// logs after the capture have surely become breadcrumbs, so many that they pushed the earlier
// ones out of the breadcrumb log: the event must still leave them out and keep the earlier.
TEST_F(LogBreadcrumbs, RecordsOfAnotherThreadLoggedAfterTheCaptureAreLeftOut) {
  IngestPeer peer;
  auto options = log_capturing_options(peer);
  std::mutex mutex;
  std::condition_variable cv;
  bool held = false, release = false;
  options.before_send = [&](sentry::Event& event) {
    if (event.message != "hold the worker") return true;
    std::unique_lock lock(mutex);
    held = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    return false;
  };
  sentry::init(options);
  sentry::capture_message("hold the worker");
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return held; }));
  }
  // Messages of this run only (breadcrumbs of an earlier run, --gtest_repeat, came before).
  static int run = 0;
  const std::string before = "before the capture " + std::to_string(++run);
  const std::string after = "after the capture " + std::to_string(run);
  monitoring::StructuredLogger logger("payments");
  logger.info(before);
  ASSERT_FALSE(sentry::capture_message("payment failed", sentry::Level::kError).empty());
  // More than the 100 breadcrumbs the log keeps: they push every earlier one out of it.
  std::thread other([&after] {
    monitoring::StructuredLogger other_logger("other");
    for (int i = 0; i < 300; ++i) other_logger.info(after);
  });
  other.join();
  logging::flush();  // "after the capture" is in the breadcrumb log from here on
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  cv.notify_all();
  const auto crumbs = crumbs_of_the_event(peer);
  ASSERT_FALSE(crumbs.empty());
  EXPECT_EQ(crumbs.back(), before);
  for (const auto& crumb : crumbs) EXPECT_NE(crumb, after);
}

TEST_F(LogBreadcrumbs, SentryInitAndCloseLeaveTheApplicationsObserverWorking) {
  std::mutex mutex;
  std::vector<std::string> seen;
  auto subscription = logging::subscribe_records([&](const logging::RecordView& view) {
    std::lock_guard lock(mutex);
    seen.emplace_back(view.message);
  });
  monitoring::StructuredLogger logger("app");
  IngestPeer peer;
  sentry::init(log_capturing_options(peer));
  logger.info("while sentry runs");
  ASSERT_FALSE(sentry::capture_message("with crumbs").empty());
  EXPECT_EQ(crumbs_of_the_event(peer).back(), "while sentry runs");
  sentry::close(2s);
  logger.info("after close");
  logging::flush();
  std::lock_guard lock(mutex);
  EXPECT_EQ(seen, (std::vector<std::string>{"while sentry runs", "after close"}));
}

}  // namespace
