// Events and logged traces start where the exception was thrown: direct captures,
// error_handler (plain and coroutine), an exception_ptr carried to another thread, nested
// exceptions (each its own throw site), and the catch site again with the switch off.

#include "stacktrace/throw_site.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "ingest_peer.hpp"
#include "monitoring/sentry.hpp"
#include "report_support.hpp"

namespace sentry = monitoring::sentry;
using sentry_test::IngestPeer;
using sentry_test::innermost_app_function;
using sentry_test::LogToTempDir;
using namespace std::chrono_literals;

namespace {

[[gnu::noinline]] void decline_card(int order) {
  throw std::invalid_argument("card declined for order " + std::to_string(order));
}

[[gnu::noinline]] void charge_order(int order) {
  try {
    decline_card(order);
  } catch (...) {
    std::throw_with_nested(std::runtime_error("charging order " + std::to_string(order)));
  }
}

[[gnu::noinline]] void refuse_refund() {
  throw std::logic_error("refund of a refund");
}
void (*volatile g_refuse_refund)() = refuse_refund;  // hidden from -Wterminate

[[gnu::noinline]] void refund_without_exceptions() noexcept {
  g_refuse_refund();
}

sentry::Options options_for(const IngestPeer& peer) {
  sentry::Options options;
  options.dsn = peer.dsn();
  options.capture_logs = false;
  options.retry_backoff = 20ms;
  return options;
}

/// The one event the peer received, after everything queued was sent.
test_json::Value only_event(const IngestPeer& peer) {
  EXPECT_TRUE(sentry::flush(5s));
  const auto envelopes = peer.with_item("event");
  EXPECT_EQ(envelopes.size(), 1u);
  return envelopes.empty() ? test_json::Value{} : *envelopes[0].item("event");
}

class SentryThrowSite : public ::testing::Test {
 protected:
  void TearDown() override {
    sentry::close(2s);
    monitoring::stacktrace::detail::set_throw_traces(true);
  }
};

}  // namespace

TEST_F(SentryThrowSite, DirectCaptureStartsInTheFunctionThatThrew) {
  IngestPeer peer;
  sentry::init(options_for(peer));
  try {
    decline_card(1);
  } catch (...) {
    EXPECT_EQ(sentry::capture_exception().size(), 32u);
  }
  const auto event = only_event(peer);
  const auto& exception = event["exception"]["values"].array.at(0);
  EXPECT_NE(innermost_app_function(exception).find("decline_card"), std::string::npos)
      << innermost_app_function(exception);
}

TEST_F(SentryThrowSite, ErrorHandlerEventAndLogRecordStartInTheFunctionThatThrew) {
  LogToTempDir logs;
  IngestPeer peer;
  sentry::init(options_for(peer));
  auto charge = sentry::error_handler({{"module", "billing"}}, [](int order) {
    decline_card(order);
    return order;
  });
  EXPECT_THROW(charge(2), std::invalid_argument);
  const auto event = only_event(peer);
  const auto& exception = event["exception"]["values"].array.at(0);
  EXPECT_NE(innermost_app_function(exception).find("decline_card"), std::string::npos)
      << innermost_app_function(exception);
  const auto records = logs.records();
  ASSERT_EQ(records.size(), 1u);
  const std::string stack = records[0]["error.stack_trace"].string;
  EXPECT_NE(innermost_app_function(stack).find("decline_card"), std::string::npos) << stack;
}

TEST_F(SentryThrowSite, AwaitableErrorHandlerStartsInTheFunctionThatThrew) {
  LogToTempDir logs;
  IngestPeer peer;
  sentry::init(options_for(peer));
  auto charge =
      sentry::error_handler({{"module", "billing"}}, [](int order) -> boost::asio::awaitable<int> {
        decline_card(order);
        co_return order;
      });
  boost::asio::io_context io;
  auto result = boost::asio::co_spawn(io, charge(3), boost::asio::use_future);
  io.run();
  EXPECT_THROW(result.get(), std::invalid_argument);
  const auto event = only_event(peer);
  const auto& exception = event["exception"]["values"].array.at(0);
  EXPECT_NE(innermost_app_function(exception).find("decline_card"), std::string::npos)
      << innermost_app_function(exception);
  const auto records = logs.records();
  ASSERT_EQ(records.size(), 1u);
  const std::string stack = records[0]["error.stack_trace"].string;
  EXPECT_NE(innermost_app_function(stack).find("decline_card"), std::string::npos) << stack;
}

TEST_F(SentryThrowSite, ExceptionPtrCapturedOnAnotherThreadStartsWhereItWasThrown) {
  IngestPeer peer;
  sentry::init(options_for(peer));
  std::exception_ptr error;
  try {
    decline_card(4);
  } catch (...) {
    error = std::current_exception();
  }
  std::thread([moved = std::move(error)] { sentry::capture_exception(moved); }).join();
  const auto event = only_event(peer);
  const auto& exception = event["exception"]["values"].array.at(0);
  EXPECT_NE(innermost_app_function(exception).find("decline_card"), std::string::npos)
      << innermost_app_function(exception);
}

TEST_F(SentryThrowSite, EachNestedExceptionStartsWhereItWasThrown) {
  IngestPeer peer;
  sentry::init(options_for(peer));
  try {
    charge_order(5);
  } catch (...) {
    sentry::capture_exception();
  }
  const auto event = only_event(peer);
  const auto& values = event["exception"]["values"].array;
  ASSERT_EQ(values.size(), 2u);
  EXPECT_EQ(values[0]["type"].string, "std::invalid_argument");
  EXPECT_NE(innermost_app_function(values[0]).find("decline_card"), std::string::npos)
      << innermost_app_function(values[0]);
  EXPECT_EQ(values[1]["type"].string, "std::runtime_error");
  EXPECT_NE(innermost_app_function(values[1]).find("charge_order"), std::string::npos)
      << innermost_app_function(values[1]) << "\n"
      << sentry_test::frame_list(values[1]);
}

TEST_F(SentryThrowSite, SwitchedOffTheEventStartsAtTheCatchSite) {
  monitoring::stacktrace::detail::set_throw_traces(false);
  IngestPeer peer;
  sentry::init(options_for(peer));
  try {
    decline_card(6);
  } catch (...) {
    sentry::capture_exception();
  }
  const auto event = only_event(peer);
  const auto& exception = event["exception"]["values"].array.at(0);
  const std::string innermost = innermost_app_function(exception);
  EXPECT_NE(innermost.find("SwitchedOffTheEventStartsAtTheCatchSite"), std::string::npos)
      << innermost;
}

TEST_F(SentryThrowSite, TerminateReportStartsInTheFunctionThatThrew) {
  // Without the throw site the report ends in the runtime that called std::terminate (under
  // clang: __clang_call_terminate, with the throwing function gone from the stack).
  const auto dir = std::filesystem::temp_directory_path() /
                   ("monitoring-throw-site-terminate-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const pid_t pid = ::fork();
  if (pid == 0) {
    sentry::Options options;
    options.dsn = "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/42";
    options.cache_dir = dir.string();
    options.capture_logs = false;
    sentry::init(options);
    refund_without_exceptions();
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;

  IngestPeer peer;
  auto options = options_for(peer);
  options.cache_dir = dir.string();
  sentry::init(options);  // sends the crashed child's record
  const auto event = only_event(peer);
  const auto& exception = event["exception"]["values"].array.at(0);
  EXPECT_EQ(exception["mechanism"]["type"].string, "terminate");
  EXPECT_NE(innermost_app_function(exception).find("refuse_refund"), std::string::npos)
      << innermost_app_function(exception);
  sentry::close(2s);
  std::filesystem::remove_all(dir);
}

TEST(SentryThrowSiteFrames, TemplateFunctionsAreJudgedByTheirNamespaceNotTheirReturnType) {
  // A throw site inside std::throw_with_nested (not inlined under clang) is the runtime's.
  const auto frames = sentry::detail::parse_stack_text(
      "#0 0x0000000000401000 in void std::__throw_with_nested_impl<std::runtime_error>(std::"
      "runtime_error&&, std::integral_constant<bool, true>)\n"
      "#1 0x0000000000401100 in bool payment::check<std::pair<int, int> >(int)\n"
      "#2 0x0000000000401200 in (anonymous namespace)::charge_order(int)\n"
      "#3 0x0000000000401300 in unsigned long billing::total()\n"
      "#4 0x0000000000401400 in main");
  ASSERT_EQ(frames.size(), 5u);  // oldest first
  EXPECT_TRUE(frames[0].in_app);
  EXPECT_TRUE(frames[1].in_app);
  EXPECT_TRUE(frames[2].in_app);
  EXPECT_TRUE(frames[3].in_app);
  EXPECT_FALSE(frames[4].in_app) << frames[4].function;
}
