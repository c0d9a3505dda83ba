// The log directory removed while the service runs (a cleanup job, an operator's rm -r): the
// next write notices that its file is gone, creates the directory and a new file again, and
// no record is lost or silently written into the deleted file.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "monitoring/error.hpp"
#include "monitoring/logging.hpp"
#include "monitoring/metrics/registry.hpp"
#include "support/eventually.hpp"
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

double dropped_write_error_metric() {
  return monitoring::metrics::Registry::default_registry()
      .counter("monitoring_log_records_dropped_total",
               "Log records lost: queue full with the drop policy, logged after shutdown, or not "
               "written because of a write error.",
               {"reason"})
      .labels("write_error")
      .value();
}

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

// The directory renamed away while running (an operator, a backup job): the periodic check
// notices that the path no longer names the open file and starts a new file at the path.
// Records written before it noticed are in the moved file (documented for
// reopen_check_interval); none is lost or in both.
TEST_F(LogDirTest, AMovedDirectoryIsNoticedAndWritingGoesOnAtThePath) {
  const std::string log_dir = dir_.file("logs");
  const std::string moved_dir = dir_.file("logs.moved");
  test_support::CaptureFd errors(STDERR_FILENO, dir_.file("stderr.txt"));
  logging::configure(file_options(log_dir));  // checks the path every 20 ms
  StructuredLogger logger("moved");
  const auto before = logging::stats();
  logger.info("before", {{"seq", 0}});
  logging::flush();

  ASSERT_EQ(::rename(log_dir.c_str(), moved_dir.c_str()), 0);
  int seq = 1;
  for (; seq <= 20; ++seq) logger.info("during", {{"seq", seq}});
  ASSERT_TRUE(monitoring::testing::eventually([&] {
    return fs::exists(fs::path(log_dir) / "app.log");
  })) << "the move was never noticed";
  for (const int end = seq + 5; seq < end; ++seq) logger.info("after", {{"seq", seq}});
  logging::flush();
  errors.restore();

  const auto old_records = test_support::parse_all(
      test_support::split_lines(test_support::read_file(moved_dir + "/app.log")));
  const auto new_records = test_support::flushed_records(log_dir);
  ASSERT_FALSE(old_records.empty());
  EXPECT_EQ(old_records.front()["message"].string, "before");
  ASSERT_GE(new_records.size(), 5u);
  for (std::size_t i = new_records.size() - 5; i < new_records.size(); ++i)
    EXPECT_EQ(new_records[i]["message"].string, "after");
  // Every record once, in order, the moved file's first.
  std::vector<int> sequence;
  for (const auto& record : old_records) sequence.push_back(static_cast<int>(record["seq"].number));
  for (const auto& record : new_records) sequence.push_back(static_cast<int>(record["seq"].number));
  ASSERT_EQ(sequence.size(), static_cast<std::size_t>(seq));
  for (int i = 0; i < seq; ++i) EXPECT_EQ(sequence[static_cast<std::size_t>(i)], i);
  const auto after = logging::stats();
  EXPECT_EQ(after.records_dropped, before.records_dropped);
  EXPECT_EQ(after.write_errors, before.write_errors);
  EXPECT_EQ(after.records_written - before.records_written, static_cast<std::uint64_t>(seq));
  EXPECT_THAT(errors.text(), HasSubstr("created again"));
}

// The log file cannot be created again: its directory is read-only (chmod 0500), or, as root
// (which chmod does not stop), the directory is replaced by a regular file of the same name,
// so open() fails with ENOTDIR. Records are dropped and counted, stderr says so once, and
// writing resumes when the fault is repaired, with the true number of lost records.
TEST_F(LogDirTest, AnUnwritableDirectoryLosesCountedRecordsAndWritingResumes) {
  const std::string log_dir = dir_.file("logs");
  const std::string log_file = log_dir + "/app.log";
  test_support::CaptureFd errors(STDERR_FILENO, dir_.file("stderr.txt"));
  logging::configure(file_options(log_dir));
  StructuredLogger logger("unwritable");
  logger.info("before");
  logging::flush();
  const auto before = logging::stats();
  const double metric_before = dropped_write_error_metric();

  const bool root = ::geteuid() == 0;
  if (root) {
    fs::remove_all(log_dir);
    { std::ofstream(log_dir) << "not a directory\n"; }
  } else {
    ASSERT_EQ(::unlink(log_file.c_str()), 0);
    ASSERT_EQ(::chmod(log_dir.c_str(), 0500), 0);
  }
  constexpr int kLost = 10;
  for (int i = 0; i < kLost; ++i) {
    logger.info("lost", {{"i", i}});
    if (i % 4 == 3) logging::flush();  // several failed writes, one report
  }
  logging::flush();
  const auto during = logging::stats();
  EXPECT_EQ(during.records_dropped - before.records_dropped, static_cast<std::uint64_t>(kLost));
  EXPECT_EQ(dropped_write_error_metric() - metric_before, kLost);
  EXPECT_GT(during.write_errors, before.write_errors);

  if (root)
    fs::remove(log_dir);  // the next open creates the directory again
  else
    ASSERT_EQ(::chmod(log_dir.c_str(), 0700), 0);
  logger.info("back", {{"i", 0}});
  logger.info("back", {{"i", 1}});
  const auto records = test_support::flushed_records(log_dir);
  errors.restore();

  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["message"].string, "back");
  const auto after = logging::stats();
  EXPECT_EQ(after.records_written - before.records_written, 2u);
  EXPECT_EQ(after.records_dropped - before.records_dropped, static_cast<std::uint64_t>(kLost));
  const std::string text = errors.text();
  const std::string failure =
      "cannot write log file " + log_file + ": " + (root ? "Not a directory" : "Permission denied");
  EXPECT_NE(text.find(failure), std::string::npos) << text;
  EXPECT_EQ(text.find(failure), text.rfind(failure)) << "reported more than once: " << text;
  const std::string resumed = "resumed; " + std::to_string(kLost) + " records were lost";
  EXPECT_THAT(text, HasSubstr(resumed));
  EXPECT_EQ(text.find("resumed"), text.rfind("resumed")) << text;
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
