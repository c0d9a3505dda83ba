// The backtrace (LOG_BACKTRACE): records below the level are kept per thread, unwritten,
// and written before that thread's next error, oldest first, marked "log.backtrace".

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "monitoring/context.hpp"
#include "monitoring/logging.hpp"
#include "monitoring/logging/levels.hpp"
#include "monitoring/logging/observer.hpp"
#include "unit/logging/test_support.hpp"

namespace {

namespace logging = monitoring::logging;
using logging::Level;
using monitoring::StructuredLogger;
using test_support::file_options;
using test_support::flushed_records;
using test_support::TempDir;

class Backtrace : public ::testing::Test {
 protected:
  void TearDown() override {
    subscription_.reset();
    logging::shutdown();
  }
  void start(std::size_t backtrace, Level level = Level::kInfo) {
    auto options = file_options(dir_.path());
    options.level = level;
    options.backtrace = backtrace;
    logging::configure(options);
  }
  // "message" of each record, with a "*" in front of backtrace records.
  std::vector<std::string> lines() {
    std::vector<std::string> result;
    for (const auto& record : flushed_records(dir_.path())) {
      const bool backtrace = record.has("log.backtrace");
      if (backtrace) {
        EXPECT_TRUE(record["log.backtrace"].boolean);
      }
      result.push_back((backtrace ? "*" : "") + record["message"].string);
    }
    return result;
  }
  TempDir dir_;
  logging::RecordSubscription subscription_;
};

using Lines = std::vector<std::string>;

TEST_F(Backtrace, AnErrorWritesTheLastKeptRecordsFirstInOrder) {
  start(3);
  StructuredLogger logger("payments");
  for (int i = 1; i <= 5; ++i) logger.debug("step " + std::to_string(i), {{"step", i}});
  logger.info("charging");
  logger.error("charge failed");
  EXPECT_EQ(lines(), (Lines{"charging", "*step 3", "*step 4", "*step 5", "charge failed"}));

  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[1]["log.level"].string, "debug");
  EXPECT_EQ(records[1]["step"].number, 3);
  EXPECT_EQ(records[1]["log.logger"].string, "payments");
  // Each keeps the time it was logged at: before the record that wrote it.
  EXPECT_LE(records[3]["@timestamp"].string, records[4]["@timestamp"].string);
  EXPECT_FALSE(records[4].has("log.backtrace"));
}

TEST_F(Backtrace, KeptRecordsAreWrittenOnceAndNeverWithoutAnError) {
  start(10);
  StructuredLogger logger("payments");
  logger.debug("kept 1");
  logger.error("first failure");
  logger.error("second failure");  // nothing kept since the first
  logger.debug("kept 2");
  logger.warning("a warning does not write the backtrace");
  EXPECT_EQ(lines(), (Lines{"*kept 1", "first failure", "second failure",
                            "a warning does not write the backtrace"}));
  logging::shutdown();  // kept 2 was never asked for
  EXPECT_EQ(lines().size(), 4u);
}

TEST_F(Backtrace, CriticalAndExceptionWriteItToo) {
  start(10);
  StructuredLogger logger("payments");
  logger.debug("before critical");
  logger.critical("disk gone");
  logger.debug("before exception");
  try {
    throw std::runtime_error("card declined");
  } catch (...) {
    logger.exception("payment failed");
  }
  EXPECT_EQ(lines(),
            (Lines{"*before critical", "disk gone", "*before exception", "payment failed"}));
}

TEST_F(Backtrace, EachThreadKeepsItsOwn) {
  start(10);
  StructuredLogger logger("workers");
  std::thread([&] { logger.debug("other thread's step"); }).join();
  logger.debug("this thread's step");
  logger.error("this thread failed");
  EXPECT_EQ(lines(), (Lines{"*this thread's step", "this thread failed"}));
}

TEST_F(Backtrace, KeptRecordsCarryTheContextTheyWereLoggedIn) {
  start(10);
  StructuredLogger logger("bot");
  {
    auto user = logger.with_user(42, "alice");
    auto request = logger.with_request_id("req-7");
    logger.debug("handling update");
  }
  logger.error("failed outside the request");
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["user.id"].string, "42");
  EXPECT_EQ(records[0]["request_id"].string, "req-7");
  EXPECT_FALSE(records[1].has("user.id"));
}

TEST_F(Backtrace, SecretsInKeptRecordsAreScrubbed) {
  start(10);
  StructuredLogger logger("payments");
  logger.debug("calling https://api.example/?token=abc123secretvalue",
               {{"password", "hunter2-very-secret"}});
  logger.error("failed");
  logging::flush();
  const std::string file = test_support::read_file(dir_.file("app.log"));
  EXPECT_EQ(file.find("abc123secretvalue"), std::string::npos) << file;
  EXPECT_EQ(file.find("hunter2-very-secret"), std::string::npos) << file;
  EXPECT_NE(file.find("\"log.backtrace\":true"), std::string::npos) << file;
}

TEST_F(Backtrace, RecordsOfADestroyedLoggerStayWritable) {
  start(10);
  StructuredLogger survivor("bot");
  {
    StructuredLogger request_logger("bot.request");
    request_logger.add_context({{"chat_id", 99}});
    request_logger.debug("parsed the update");
    request_logger.add_context({{"step", "reply"}});  // retires the first state too
    request_logger.debug("built the reply");
  }
  logging::flush();  // the backend has seen the retirement before the error comes
  survivor.error("sending failed");
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]["log.logger"].string, "bot.request");
  EXPECT_EQ(records[0]["chat_id"].number, 99);
  EXPECT_FALSE(records[0].has("step"));
  EXPECT_EQ(records[1]["step"].string, "reply");
  EXPECT_EQ(records[2]["message"].string, "sending failed");
}

TEST_F(Backtrace, LevelsDecideWhatIsKept) {
  start(10, Level::kWarning);
  StructuredLogger logger("payments");
  EXPECT_EQ(logger.level(), Level::kWarning);
  EXPECT_TRUE(logger.is_enabled(Level::kDebug));  // kept, so worth building
  logger.info("info is below WARNING: kept");
  logging::set_module_level("payments", Level::kDebug);
  EXPECT_EQ(logger.level(), Level::kDebug);
  logger.debug("now written");
  logging::set_module_level("payments", Level::kOff);
  EXPECT_FALSE(logger.is_enabled(Level::kDebug));  // an OFF logger keeps nothing
  logger.debug("silenced");
  logging::set_module_level("payments", std::nullopt);
  logger.error("failed");
  // The level changes are logged (WARNING, "monitoring.loggers") whatever the levels.
  Lines messages;
  for (const std::string& line : lines())
    if (line != "Log level changed") messages.push_back(line);
  EXPECT_EQ(messages, (Lines{"now written", "*info is below WARNING: kept", "failed"}));
}

TEST_F(Backtrace, OffByDefaultAndWhenReconfiguredOff) {
  start(0);
  StructuredLogger logger("payments");
  EXPECT_FALSE(logger.is_enabled(Level::kDebug));
  logger.debug("dropped at the call");
  logger.error("failed");
  EXPECT_EQ(lines(), (Lines{"failed"}));

  start(5);
  EXPECT_TRUE(logger.is_enabled(Level::kDebug));
  logger.debug("kept");
  start(0);  // a kept record is dropped with the backtrace it belonged to
  EXPECT_FALSE(logger.is_enabled(Level::kDebug));
  logger.error("failed again");
  EXPECT_EQ(lines(), (Lines{"failed", "failed again"}));
}

TEST_F(Backtrace, ObserversGetItWithTheErrorWhateverTheirLevel) {
  start(10);
  std::mutex mutex;
  std::vector<std::pair<std::string, bool>> seen;
  subscription_ = logging::subscribe_records(
      [&](const logging::RecordView& record) {
        std::lock_guard lock(mutex);
        seen.emplace_back(std::string(record.message), record.backtrace);
      },
      Level::kError);
  StructuredLogger logger("payments");
  logger.debug("step");
  logger.info("written, below the observer's level");
  logger.error("failed");
  logging::flush();
  std::lock_guard lock(mutex);
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, bool>>{{"step", true}, {"failed", false}}));
}

// Runs under ThreadSanitizer too (CI's "Concurrency" tests).
using BacktraceConcurrency = Backtrace;

TEST_F(BacktraceConcurrency, ManyThreadsKeepAndWriteWithoutLosingOrMixing) {
  start(4);
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      StructuredLogger logger("worker");
      for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < 6; ++i)
          logger.debug("step", {{"thread", t}, {"round", round}, {"i", i}});
        logger.error("round failed", {{"thread", t}, {"round", round}});
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const auto records = flushed_records(dir_.path());
  ASSERT_EQ(records.size(), std::size_t{kThreads} * 50 * 5);
  // Per thread: each error preceded by exactly steps 2..5 of its own round.
  std::vector<std::vector<const test_json::Value*>> by_thread(kThreads);
  for (const auto& record : records)
    by_thread[static_cast<std::size_t>(record["thread"].number)].push_back(&record);
  for (int t = 0; t < kThreads; ++t) {
    const auto& mine = by_thread[static_cast<std::size_t>(t)];
    ASSERT_EQ(mine.size(), 250u);
    for (std::size_t i = 0; i < mine.size(); ++i) {
      const int round = static_cast<int>(i / 5);
      const auto& record = *mine[i];
      EXPECT_EQ(record["round"].number, round);
      if (i % 5 == 4) {
        EXPECT_EQ(record["message"].string, "round failed");
      } else {
        EXPECT_TRUE(record.has("log.backtrace"));
        EXPECT_EQ(record["i"].number, static_cast<double>(i % 5 + 2));
      }
    }
  }
}

TEST_F(Backtrace, BadSizesAreRefusedNamingTheValue) {
  auto options = file_options(dir_.path());
  options.backtrace = logging::kMaxBacktrace + 1;
  try {
    logging::configure(options);
    ADD_FAILURE() << "a backtrace of 100001 records was accepted";
  } catch (const monitoring::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("100001"), std::string::npos) << e.what();
  }
  for (const char* value : {"-1", "ten", "100001", "5 records"}) {
    ::setenv("LOG_BACKTRACE", value, 1);
    try {
      logging::LoggingOptions::from_env();
      ADD_FAILURE() << "LOG_BACKTRACE=" << value << " accepted";
    } catch (const monitoring::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("LOG_BACKTRACE"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(value), std::string::npos) << e.what();
    }
  }
  ::setenv("LOG_BACKTRACE", " 64 ", 1);
  EXPECT_EQ(logging::LoggingOptions::from_env().backtrace, 64u);
  ::unsetenv("LOG_BACKTRACE");
  EXPECT_EQ(logging::LoggingOptions::from_env().backtrace, 0u);
}

// A fatal signal writes the crashing thread's backtrace after everything it logged, as an
// error would: its last steps reach the file before the process dies.
TEST_F(Backtrace, AFatalSignalWritesTheCrashingThreadsBacktrace) {
  ASSERT_TRUE(test_support::child_aborts_after([this] {
    start(3);
    StructuredLogger logger("payments");
    std::thread other([] {  // another thread's kept records stay unwritten
      StructuredLogger("worker").debug("another thread's step");
    });
    other.join();
    for (int i = 1; i <= 5; ++i) logger.debug("step " + std::to_string(i));
    logger.info("charging");
  }));
  EXPECT_EQ(lines(), (Lines{"charging", "*step 3", "*step 4", "*step 5"}));
}

}  // namespace
