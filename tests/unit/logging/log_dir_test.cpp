// The log directory removed while the service runs (a cleanup job, an operator's rm -r): the
// next write notices that its file is gone, creates the directory and a new file again, and
// no record is lost or silently written into the deleted file.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "monitoring/error.hpp"
#include "monitoring/logging.hpp"
#include "unit/logging/test_support.hpp"

namespace {

namespace fs = std::filesystem;
namespace logging = monitoring::logging;
using monitoring::StructuredLogger;
using test_support::file_options;
using test_support::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

class LogDirTest : public ::testing::Test {
 protected:
  void TearDown() override { logging::shutdown(); }
  TempDir dir_;
};

TEST_F(LogDirTest, ARemovedDirectoryIsCreatedAgainAndNothingIsLost) {
  const std::string log_dir = dir_.file("logs");
  auto options = file_options(log_dir);
  options.reopen_check_interval = std::chrono::hours(1);  // only the write itself may notice
  test_support::CaptureFd errors(STDERR_FILENO, dir_.file("stderr.txt"));
  logging::configure(options);
  StructuredLogger logger("cleanup");
  logger.info("before");
  logging::flush();
  const auto before = logging::stats();

  fs::remove_all(log_dir);
  for (int i = 0; i < 5; ++i) logger.info("after", {{"i", i}});
  logging::flush();

  ASSERT_TRUE(fs::exists(fs::path(log_dir) / "app.log")) << "the directory was not recreated";
  const auto records = test_support::flushed_records(log_dir);
  ASSERT_EQ(records.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(records[i]["i"].number, i);
  const auto after = logging::stats();
  EXPECT_EQ(after.records_dropped, before.records_dropped);
  EXPECT_EQ(after.write_errors, before.write_errors);
  errors.restore();
  EXPECT_THAT(errors.text(), HasSubstr("was deleted"));
  EXPECT_THAT(errors.text(), HasSubstr("created again"));
  EXPECT_THAT(errors.text(), Not(HasSubstr("resumed")));
}

TEST_F(LogDirTest, ADeletedFileIsReplacedBeforeTheNextWrite) {
  auto options = file_options(dir_.path());
  options.reopen_check_interval = std::chrono::hours(1);
  logging::configure(options);
  StructuredLogger logger("cleanup");
  logger.info("before");
  logging::flush();
  ASSERT_EQ(::unlink(dir_.file("app.log").c_str()), 0);
  logger.info("after");
  const auto records = test_support::flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["message"].string, "after");
}

// LOG_DIR=/proc/x: the operator set LOG_DIR, so the error names LOG_DIR; a log_dir set in
// code is named as the option.
TEST_F(LogDirTest, AnUnusableDirectoryFromTheEnvironmentIsNamedLogDir) {
  const char* saved = std::getenv("LOG_DIR");
  const std::string previous = saved != nullptr ? saved : "";
  struct Restore {
    bool had;
    std::string value;
    ~Restore() {
      if (had)
        ::setenv("LOG_DIR", value.c_str(), 1);
      else
        ::unsetenv("LOG_DIR");
    }
  } restore{saved != nullptr, previous};

  const auto configure_error = [](const logging::LoggingOptions& options) -> std::string {
    try {
      logging::configure(options);
    } catch (const monitoring::ConfigError& e) {
      return e.what();
    }
    return "(accepted)";
  };
  ::setenv("LOG_DIR", "/proc/x", 1);  // no directory can be created in /proc, even by root
  auto options = logging::LoggingOptions::from_env();
  options.console = logging::ConsoleTarget::kNone;
  EXPECT_THAT(configure_error(options), StartsWith("LOG_DIR \"/proc/x\" cannot be created"));

  // As MonitoringConfig::from_env reads it (trimmed) and setup_monitoring passes it on.
  ::setenv("LOG_DIR", " /proc/x ", 1);
  options.log_dir = "/proc/x";
  EXPECT_THAT(configure_error(options), StartsWith("LOG_DIR \"/proc/x\" cannot be created"));

  ::unsetenv("LOG_DIR");
  EXPECT_THAT(configure_error(options), StartsWith("log_dir \"/proc/x\" cannot be created"));
  ::setenv("LOG_DIR", dir_.path().c_str(), 1);  // another value: the option was set in code
  EXPECT_THAT(configure_error(options), StartsWith("log_dir \"/proc/x\" cannot be created"));
}

}  // namespace
