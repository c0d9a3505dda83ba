// Throw sites in logged exceptions and one count per exception object (the stacktrace
// component's throw hook, seen through logger.exception).

#include "stacktrace/throw_site.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "monitoring/logging.hpp"
#include "monitoring/logging/error_counter.hpp"
#include "stacktrace/stack_trace.hpp"
#include "test_support.hpp"

namespace logging = monitoring::logging;
namespace throws = monitoring::stacktrace::detail;
using test_support::file_options;
using test_support::flushed_records;
using test_support::TempDir;

namespace {

[[gnu::noinline]] void reject_refund(int id) {
  throw std::invalid_argument("refund " + std::to_string(id) + " rejected");
}

[[gnu::noinline]] int fourth_plan(const std::vector<int>& plans) {
  return plans.at(3);  // libstdc++ throws std::out_of_range from inside the library
}

std::exception_ptr caught_refund(int id) {
  try {
    reject_refund(id);
  } catch (...) {
    return std::current_exception();
  }
  return nullptr;
}

/// The function of frame #0 of a logged "#0 0x... in fn at file:line" trace.
std::string first_frame(const std::string& stack) {
  return stack.substr(0, stack.find('\n'));
}

/// The first frame not in the C++ runtime, this library or an unnamed library function.
std::string first_app_frame(const std::string& stack) {
  std::size_t start = 0;
  while (start < stack.size()) {
    const std::size_t end = std::min(stack.find('\n', start), stack.size());
    const std::string line = stack.substr(start, end - start);
    const std::size_t in = line.find(" in ");
    const std::string function = in == std::string::npos ? "" : line.substr(in + 4);
    if (!function.starts_with("std::") && !function.starts_with("__") &&
        !function.starts_with("??") && !function.starts_with("monitoring::") &&
        !function.starts_with("void std::"))
      return line;
    start = end + 1;
  }
  return {};
}

/// The symbolized function of the first recorded throw-site frame of `error`.
std::string recorded_thrower(const std::exception_ptr& error) {
  void* frames[throws::kMaxThrowFrames];
  const std::uint32_t count = throws::throw_site(error, frames, throws::kMaxThrowFrames);
  if (count == 0) return {};
  logging::detail::Symbolizer symbolizer;
  return symbolizer.resolve(reinterpret_cast<std::uintptr_t>(frames[0])).function;
}

struct Counted {
  static inline std::mutex mutex;
  static inline std::vector<std::string> types;
  static void count(std::string_view type, std::string_view) noexcept {
    std::lock_guard lock(mutex);
    types.emplace_back(type);
  }
};

class ThrowSite : public ::testing::Test {
 protected:
  void SetUp() override {
    logging::configure(file_options(dir_.path()));
    Counted::types.clear();
    logging::set_error_counter(Counted::count);
  }
  void TearDown() override {
    logging::set_error_counter(nullptr);
    throws::set_throw_traces(true);
    logging::shutdown();
  }
  TempDir dir_;
};

}  // namespace

TEST_F(ThrowSite, LoggedTraceStartsInTheFunctionThatThrew) {
  logging::StructuredLogger logger("refunds");
  try {
    reject_refund(1);
  } catch (...) {
    logger.exception("refund failed");
  }
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 1u);
  const std::string& stack = records[0]["error.stack_trace"].string;
  EXPECT_NE(first_frame(stack).find("reject_refund"), std::string::npos) << stack;
}

TEST_F(ThrowSite, ExceptionPtrLoggedOnAnotherThreadKeepsItsThrowSite) {
  logging::StructuredLogger logger("refunds");
  std::exception_ptr error = caught_refund(2);
  std::thread([&logger, moved = std::move(error)] {
    logger.exception("refund failed elsewhere", moved);
  }).join();
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 1u);
  const std::string& stack = records[0]["error.stack_trace"].string;
  EXPECT_NE(first_frame(stack).find("reject_refund"), std::string::npos) << stack;
  EXPECT_EQ(stack.find("execute_native_thread_routine"), std::string::npos)
      << "the logging thread's stack is not the throw site: " << stack;
}

TEST_F(ThrowSite, ThrowsFromInsideLibstdcxxGoThroughTheHook) {
  logging::StructuredLogger logger("plans");
  const std::vector<int> plans{1, 2};
  try {
    fourth_plan(plans);
  } catch (...) {
    logger.exception("no such plan");
  }
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 1u);
  const std::string& stack = records[0]["error.stack_trace"].string;
  // Frame #0 is inside libstdc++ (std::__throw_out_of_range_fmt, unnamed without its symbols).
  EXPECT_NE(first_frame(stack).find("libstdc++"), std::string::npos) << stack;
  EXPECT_NE(first_app_frame(stack).find("fourth_plan"), std::string::npos) << stack;
}

TEST_F(ThrowSite, SwitchedOffTheTraceStartsAtTheCatchSiteAsBefore) {
  throws::set_throw_traces(false);
  EXPECT_FALSE(throws::throw_traces_enabled());
  logging::StructuredLogger logger("refunds");
  try {
    reject_refund(3);
  } catch (...) {
    EXPECT_EQ(recorded_thrower(std::current_exception()), "");
    logger.exception("refund failed");
  }
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 1u);
  const std::string& stack = records[0]["error.stack_trace"].string;
  EXPECT_NE(first_frame(stack).find("SwitchedOffTheTraceStartsAtTheCatchSiteAsBefore"),
            std::string::npos)
      << stack;
  EXPECT_EQ(stack.find("reject_refund"), std::string::npos) << stack;
}

TEST_F(ThrowSite, TheEnvironmentSwitchAcceptsTheUsualWordsForOff) {
  for (const char* off : {"0", "false", "OFF", "No"}) EXPECT_TRUE(throws::throw_traces_off_by(off));
  for (const char* on : {"1", "true", "on", ""}) EXPECT_FALSE(throws::throw_traces_off_by(on));
  EXPECT_FALSE(throws::throw_traces_off_by(nullptr));
}

TEST_F(ThrowSite, AnObjectNeverThrownHasNoThrowSiteEvenInAReusedAddress) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer's allocator quarantines freed memory: no reuse to observe";
#endif
  // A thrown exception leaves its record behind when it is freed; an exception made later in
  // the same memory without a throw (std::make_exception_ptr) must not inherit it.
  const void* stale = nullptr;
  {
    std::exception_ptr thrown = caught_refund(4);
    ASSERT_NE(recorded_thrower(thrown).find("reject_refund"), std::string::npos);
    std::memcpy(&stale, &thrown, sizeof stale);
  }
  bool reused = false;
  std::vector<std::exception_ptr> made;
  for (int i = 0; i < 64 && !reused; ++i) {
    made.push_back(std::make_exception_ptr(std::invalid_argument("refund 4 rejected")));
    const void* object = nullptr;
    std::memcpy(&object, &made.back(), sizeof object);
    reused = object == stale;
    EXPECT_EQ(recorded_thrower(made.back()), "");
  }
  EXPECT_TRUE(reused) << "the allocator gave the freed exception's memory to none of 64 new ones";
}

TEST_F(ThrowSite, OneExceptionObjectIsCountedOnceButLoggedEveryTime) {
  logging::StructuredLogger logger("refunds");
  std::exception_ptr error = caught_refund(5);
  logger.exception("refund failed", error);
  logger.exception("refund failed, logged again by the caller", error);
  try {
    std::rethrow_exception(error);
  } catch (...) {
    logger.exception("refund failed, rethrown");
  }
  EXPECT_EQ(Counted::types, std::vector<std::string>{"std::invalid_argument"});
  EXPECT_EQ(flushed_records(dir_.path()).size(), 3u);
}

TEST_F(ThrowSite, DifferentExceptionsWithTheSameTextAreEachCounted) {
  logging::StructuredLogger logger("refunds");
  logger.exception("refund failed", caught_refund(6));
  logger.exception("refund failed", caught_refund(6));
  EXPECT_EQ(Counted::types,
            (std::vector<std::string>{"std::invalid_argument", "std::invalid_argument"}));
}

// Many threads throw, share one exception and claim it: the table is locked per set and each
// thread sees its own throw site; a shared object's mark is taken by exactly one thread.
TEST(ThrowSiteConcurrency, ThreadsThrowLookUpAndClaimAtOnce) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 2000;
  const std::exception_ptr shared = caught_refund(7);
  std::atomic<int> claims{0};
  std::atomic<int> missing{0};
  std::atomic<int> own_claims{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int round = 0; round < kRounds; ++round) {
        std::exception_ptr own = caught_refund(round);
        void* frames[throws::kMaxThrowFrames];
        if (throws::throw_site(own, frames, throws::kMaxThrowFrames) == 0) missing.fetch_add(1);
        if (throws::claim_report(own, throws::Report::kCounted)) own_claims.fetch_add(1);
        if (throws::claim_report(shared, throws::Report::kEvent)) claims.fetch_add(1);
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(claims.load(), 1);
  EXPECT_EQ(own_claims.load(), kThreads * kRounds);
  EXPECT_EQ(missing.load(), 0);
  EXPECT_NE(recorded_thrower(shared).find("reject_refund"), std::string::npos);
}
