// Write faults of the log file: a full disk (RLIMIT_FSIZE makes write() stop at a given file
// size, as ENOSPC would, without needing a tiny file system) cutting a line in half, then
// space coming back, the file moving or vanishing, or shutdown while the disk is still full.
// Whatever happens, every line of every log file is complete JSON, and every record logged
// is either in a file or counted in records_dropped, exactly.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "monitoring/logging.hpp"
#include "monitoring/metrics/registry.hpp"
#include "support/eventually.hpp"
#include "support/json_reader.hpp"
#include "unit/logging/test_support.hpp"

namespace {

namespace fs = std::filesystem;
namespace logging = monitoring::logging;
using monitoring::StructuredLogger;
using monitoring::testing::eventually;
using test_support::file_options;
using test_support::TempDir;
using ::testing::HasSubstr;

double dropped_metric(const std::string& reason) {
  return monitoring::metrics::Registry::default_registry()
      .counter("monitoring_log_records_dropped_total",
               "Log records lost: queue full with the drop policy, logged after shutdown, or not "
               "written because of a write error.",
               {"reason"})
      .labels(reason)
      .value();
}

/// Makes write() fail with EFBIG past `bytes` in every file this process writes (the log file
/// is the only one that grows that far) until restore(). SIGXFSZ is ignored meanwhile, so
/// the write fails instead of killing the process.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    previous_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit = saved_;
    limit.rlim_cur = bytes;
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) throw std::runtime_error("setrlimit failed");
    active_ = true;
  }
  ~FileSizeLimit() { restore(); }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  void restore() {
    if (!active_) return;
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::signal(SIGXFSZ, previous_handler_);
    active_ = false;
  }

 private:
  rlimit saved_{};
  sighandler_t previous_handler_ = SIG_DFL;
  bool active_ = false;
};

/// Parses every line of `path`; a torn line is a test failure. Returns the records.
std::vector<test_json::Value> records_in(const std::string& path) {
  const std::string text = test_support::read_file(path);
  EXPECT_TRUE(text.empty() || text.back() == '\n') << path << " ends in the middle of a line";
  std::vector<test_json::Value> records;
  for (const std::string& line : test_support::split_lines(text)) {
    try {
      records.push_back(test_json::parse(line));
    } catch (const std::exception& e) {
      ADD_FAILURE() << path << ": torn line (" << e.what() << "): " << line.substr(0, 120);
    }
  }
  return records;
}

class LogFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto options = file_options(dir_.path());
    options.max_bytes = 0;  // one file, so the size limit is reached where we choose
    logging::configure(options);
    before_ = logging::stats();
    metric_before_ = dropped_metric("write_error");
    // The first line tells how long a line is; the disk fills up two and a half lines later,
    // so the third write is cut in the middle of its line.
    log("first");
    logging::flush();
    line_bytes_ = fs::file_size(log_path());
    limit_bytes_ = line_bytes_ * 3 + line_bytes_ / 2;
  }
  void TearDown() override { logging::shutdown(); }

  std::string log_path() const { return dir_.file("app.log"); }
  void log(const char* message) {
    logger_.info(message, {{"seq", logged_}, {"padding", std::string(400, 'p')}});
    ++logged_;
  }
  // Every record logged since SetUp() is either written or counted as dropped, once.
  void expect_every_record_accounted(std::size_t records_in_files) {
    const auto after = logging::stats();
    const std::uint64_t written = after.records_written - before_.records_written;
    const std::uint64_t dropped = after.records_dropped - before_.records_dropped;
    EXPECT_EQ(written + dropped, static_cast<std::uint64_t>(logged_))
        << written << " written, " << dropped << " dropped";
    EXPECT_EQ(written, records_in_files);
    EXPECT_EQ(dropped_metric("write_error") - metric_before_, static_cast<double>(dropped));
    EXPECT_GT(after.write_errors, before_.write_errors);
  }

  TempDir dir_;
  StructuredLogger logger_{"disk"};
  logging::LoggingStats before_{};
  double metric_before_ = 0;
  int logged_ = 0;
  std::uintmax_t line_bytes_ = 0;
  std::uintmax_t limit_bytes_ = 0;
};

TEST_F(LogFaultsTest, ALineCutByAFullDiskIsRemovedAndWritingResumesWhenSpaceReturns) {
  test_support::CaptureFd errors(STDERR_FILENO, dir_.file("stderr.txt"));
  FileSizeLimit full(limit_bytes_);
  for (int i = 0; i < 6; ++i) log("filling");
  logging::flush();
  for (int i = 0; i < 4; ++i) log("still full");
  logging::flush();
  ASSERT_GT(logging::stats().write_errors, before_.write_errors) << "the limit was never hit";
  full.restore();  // space again: nothing to do for the application
  for (int i = 0; i < 3; ++i) log("resumed");
  logging::flush();
  errors.restore();

  const auto records = records_in(log_path());
  ASSERT_GE(records.size(), 4u);
  EXPECT_EQ(records.front()["message"].string, "first");
  for (std::size_t i = records.size() - 3; i < records.size(); ++i)
    EXPECT_EQ(records[i]["message"].string, "resumed");
  expect_every_record_accounted(records.size());
  const std::uint64_t dropped = logging::stats().records_dropped - before_.records_dropped;
  EXPECT_THAT(errors.text(),
              HasSubstr("resumed; " + std::to_string(dropped) + " records were lost"));
}

TEST_F(LogFaultsTest, ALineCutBeforeTheFileIsMovedLeavesNoTornLine) {
  FileSizeLimit full(limit_bytes_);
  for (int i = 0; i < 6; ++i) log("filling");
  logging::flush();
  ASSERT_GT(logging::stats().write_errors, before_.write_errors) << "the limit was never hit";
  // logrotate "create": the file moves while its last line is cut; the new file is empty, so
  // the limit no longer stops writing.
  const std::string moved = dir_.file("app.log.1");
  ASSERT_EQ(::rename(log_path().c_str(), moved.c_str()), 0);
  ASSERT_TRUE(eventually([&] { return fs::exists(log_path()); })) << "no reopen";
  for (int i = 0; i < 3; ++i) log("after the move");
  logging::flush();
  full.restore();

  const auto old_records = records_in(moved);
  const auto new_records = records_in(log_path());
  ASSERT_EQ(new_records.size(), 3u);
  EXPECT_EQ(new_records[0]["message"].string, "after the move");
  expect_every_record_accounted(old_records.size() + new_records.size());
}

TEST_F(LogFaultsTest, ALineCutBeforeTheFileIsDeletedIsCountedAsLost) {
  FileSizeLimit full(limit_bytes_);
  for (int i = 0; i < 6; ++i) log("filling");
  logging::flush();
  ASSERT_GT(logging::stats().write_errors, before_.write_errors) << "the limit was never hit";
  const std::size_t in_deleted_file = records_in(log_path()).size();
  ASSERT_EQ(::unlink(log_path().c_str()), 0);
  for (int i = 0; i < 3; ++i) log("after the deletion");
  logging::flush();
  full.restore();

  const auto records = records_in(log_path());
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]["message"].string, "after the deletion");
  expect_every_record_accounted(in_deleted_file + records.size());
}

TEST_F(LogFaultsTest, ShutdownWhileTheDiskIsFullLeavesNoTornLine) {
  FileSizeLimit full(limit_bytes_);
  for (int i = 0; i < 6; ++i) log("filling");
  logging::flush();
  for (int i = 0; i < 2; ++i) log("at shutdown");
  logging::shutdown();  // writes what is queued, into a disk that is still full
  full.restore();

  const auto records = records_in(log_path());
  ASSERT_GE(records.size(), 1u);
  EXPECT_EQ(records.front()["message"].string, "first");
  expect_every_record_accounted(records.size());
}

// A console that cannot be written next to a file: its records are in the file, so they are
// neither dropped nor missing from records_written; the failed writes are counted and
// reported once.
TEST(LogFaultsConsole, AFailingConsoleNextToTheFileDropsNothing) {
  TempDir dir;
  test_support::CaptureFd errors(STDERR_FILENO, dir.file("stderr.txt"));
  test_support::CaptureFd full(STDOUT_FILENO, "/dev/full");
  auto options = file_options(dir.path());
  options.console = logging::ConsoleTarget::kStdout;
  logging::configure(options);
  const auto before = logging::stats();
  StructuredLogger logger("console");
  constexpr int kRecords = 30;
  for (int i = 0; i < kRecords; ++i) {
    logger.info("both outputs", {{"i", i}});
    if (i % 10 == 9) logging::flush();
  }
  const auto records = test_support::flushed_records(dir.path());
  const auto after = logging::stats();
  logging::shutdown();
  full.restore();
  errors.restore();

  EXPECT_EQ(records.size(), static_cast<std::size_t>(kRecords));
  EXPECT_EQ(after.records_written - before.records_written, static_cast<std::uint64_t>(kRecords));
  EXPECT_EQ(after.records_dropped, before.records_dropped);
  EXPECT_GE(after.write_errors - before.write_errors, 3u);
  const std::string text = errors.text();
  const std::string message =
      "cannot write stdout: No space left on device; log records still go to the log file";
  EXPECT_NE(text.find(message), std::string::npos) << text;
  EXPECT_EQ(text.find(message), text.rfind(message)) << "reported more than once: " << text;
}

// chattr +a: the file refuses truncation, so the cut piece stays. It must then stay alone on
// its line: the records after it are intact, and the cut one is counted as lost.
TEST_F(LogFaultsTest, AnAppendOnlyFileKeepsTheCutPieceOnItsOwnLine) {
  struct AppendOnly {
    int fd = -1;
    bool set(const std::string& path, bool on) {
      if (fd < 0) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      int flags = 0;
      if (fd < 0 || ::ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) return false;
      flags = on ? (flags | FS_APPEND_FL) : (flags & ~FS_APPEND_FL);
      return ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    }
    ~AppendOnly() {
      if (fd >= 0) {
        set("", false);  // or TempDir cannot remove the file
        ::close(fd);
      }
    }
  } append_only;
  if (!append_only.set(log_path(), true))
    GTEST_SKIP() << "cannot make a file append-only here (needs CAP_LINUX_IMMUTABLE)";

  FileSizeLimit full(limit_bytes_);
  for (int i = 0; i < 6; ++i) log("filling");
  logging::flush();
  ASSERT_GT(logging::stats().write_errors, before_.write_errors) << "the limit was never hit";
  full.restore();
  for (int i = 0; i < 3; ++i) log("resumed");
  logging::flush();

  std::vector<test_json::Value> records;
  int torn = 0;
  for (const std::string& line : test_support::split_lines(test_support::read_file(log_path()))) {
    try {
      records.push_back(test_json::parse(line));
    } catch (const std::exception&) {
      ++torn;
    }
  }
  EXPECT_EQ(torn, 1) << "the cut piece should be one line of its own";
  ASSERT_GE(records.size(), 4u);
  for (std::size_t i = records.size() - 3; i < records.size(); ++i)
    EXPECT_EQ(records[i]["message"].string, "resumed");
  expect_every_record_accounted(records.size());
}

}  // namespace
