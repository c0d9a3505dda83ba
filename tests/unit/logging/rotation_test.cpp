#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "monitoring/logging.hpp"
#include "support/eventually.hpp"
#include "support/json_reader.hpp"
#include "unit/logging/test_support.hpp"

namespace {

namespace fs = std::filesystem;
namespace logging = monitoring::logging;
using monitoring::StructuredLogger;
using test_support::all_log_lines;
using test_support::file_options;
using test_support::TempDir;

class RotationTest : public ::testing::Test {
 protected:
  void TearDown() override { logging::shutdown(); }
  TempDir dir_;
};

using monitoring::testing::eventually;

TEST_F(RotationTest, RotatesBySizeAndKeepsTheBackupCount) {
  auto options = file_options(dir_.path());
  options.max_bytes = 4096;
  options.backup_count = 3;
  logging::configure(options);
  StructuredLogger logger("rotation");
  const std::string padding(100, 'x');
  for (int i = 0; i < 400; ++i) logger.info("line", {{"i", i}, {"padding", padding}});
  logging::shutdown();

  EXPECT_TRUE(fs::exists(dir_.file("app.log")));
  for (const char* backup : {"app.log.1", "app.log.2", "app.log.3"}) {
    ASSERT_TRUE(fs::exists(dir_.file(backup))) << backup;
    EXPECT_LE(fs::file_size(dir_.file(backup)), 4096u) << backup;
    EXPECT_GT(fs::file_size(dir_.file(backup)), 3000u) << backup;  // filled, not rotated early
  }
  EXPECT_FALSE(fs::exists(dir_.file("app.log.4")));
  // The kept lines are the newest ones, consecutive, oldest file first.
  const auto records = test_support::parse_all(all_log_lines(dir_.path()));
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back()["i"].number, 399);
  for (std::size_t k = 1; k < records.size(); ++k)
    ASSERT_EQ(records[k]["i"].number, records[k - 1]["i"].number + 1) << k;
}

TEST_F(RotationTest, BackupCountZeroStartsOverInPlace) {
  auto options = file_options(dir_.path());
  options.max_bytes = 2048;
  options.backup_count = 0;
  logging::configure(options);
  StructuredLogger logger("rotation");
  for (int i = 0; i < 200; ++i) logger.info("line", {{"i", i}, {"padding", std::string(100, 'y')}});
  logging::shutdown();
  EXPECT_LE(fs::file_size(dir_.file("app.log")), 2048u);
  EXPECT_FALSE(fs::exists(dir_.file("app.log.1")));
  const auto records = test_support::parse_all(all_log_lines(dir_.path()));
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back()["i"].number, 199);
}

TEST_F(RotationTest, CompressedBackupsHoldEveryLine) {
  auto options = file_options(dir_.path());
  options.max_bytes = 16 << 10;
  options.backup_count = 100;
  options.compress_backups = true;
  logging::configure(options);
  StructuredLogger logger("gzip");
  constexpr int kRecords = 3000;
  for (int i = 0; i < kRecords; ++i) logger.info("compressible line", {{"i", i}});
  logging::shutdown();  // waits for the compression of the last backup

  int gz = 0;
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 3 && name.substr(name.size() - 3) == ".gz") ++gz;
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
    if (name != "app.log") {
      EXPECT_TRUE(name.size() > 3 && name.substr(name.size() - 3) == ".gz") << name;
    }
  }
  EXPECT_GE(gz, 3);
  const auto records = test_support::parse_all(all_log_lines(dir_.path()));
  ASSERT_EQ(records.size(), static_cast<std::size_t>(kRecords));
  for (int i = 0; i < kRecords; ++i) ASSERT_EQ(records[static_cast<std::size_t>(i)]["i"].number, i);
}

TEST_F(RotationTest, DailyRotationMovesYesterdaysFile) {
  {
    std::ofstream old(dir_.file("app.log"));
    old << R"({"message":"yesterday"})"
        << "\n";
  }
  // Backdate the file two days: it belongs to an earlier UTC day.
  const timespec two_days_ago{::time(nullptr) - 2 * 86400, 0};
  const timespec times[2] = {two_days_ago, two_days_ago};
  ASSERT_EQ(::utimensat(AT_FDCWD, dir_.file("app.log").c_str(), times, 0), 0);
  auto options = file_options(dir_.path());
  options.daily_rotation = true;
  logging::configure(options);
  StructuredLogger logger("daily");
  logger.info("today");
  logging::flush();
  const auto today = test_support::parse_all(
      test_support::split_lines(test_support::read_file(dir_.file("app.log"))));
  ASSERT_EQ(today.size(), 1u);
  EXPECT_EQ(today[0]["message"].string, "today");
  const auto old = test_support::parse_all(
      test_support::split_lines(test_support::read_file(dir_.file("app.log.1"))));
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0]["message"].string, "yesterday");
}

TEST_F(RotationTest, AppendsToAnExistingFile) {
  {
    std::ofstream(dir_.file("app.log")) << R"({"message":"earlier run"})"
                                        << "\n";
  }
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("append");
  logger.info("this run");
  const auto records = test_support::flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["message"].string, "earlier run");
  EXPECT_EQ(records[1]["message"].string, "this run");
}

TEST_F(RotationTest, ReopensWhenLogrotateMovesTheFile) {
  logging::configure(file_options(dir_.path()));  // checks the path every 20 ms
  StructuredLogger logger("logrotate");
  logger.info("before");
  logging::flush();
  ASSERT_EQ(::rename(dir_.file("app.log").c_str(), dir_.file("app.log.rotated").c_str()), 0);
  ASSERT_TRUE(eventually([&] { return fs::exists(dir_.file("app.log")); })) << "no reopen";
  logger.info("after");
  logging::flush();
  const auto old = test_support::parse_all(
      test_support::split_lines(test_support::read_file(dir_.file("app.log.rotated"))));
  const auto fresh = test_support::parse_all(
      test_support::split_lines(test_support::read_file(dir_.file("app.log"))));
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0]["message"].string, "before");
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0]["message"].string, "after");
}

TEST_F(RotationTest, ReopensWhenTheFileIsRemoved) {
  logging::configure(file_options(dir_.path()));
  StructuredLogger logger("removed");
  logger.info("gone");
  logging::flush();
  ASSERT_EQ(::unlink(dir_.file("app.log").c_str()), 0);
  ASSERT_TRUE(eventually([&] { return fs::exists(dir_.file("app.log")); })) << "no reopen";
  logger.info("back");
  const auto records = test_support::flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["message"].string, "back");
}

TEST_F(RotationTest, SighupReopens) {
  auto options = file_options(dir_.path());
  options.reopen_check_interval = std::chrono::hours(1);  // only the signal can trigger it
  logging::configure(options);
  StructuredLogger logger("sighup");
  logger.info("before");
  logging::flush();
  ASSERT_EQ(::rename(dir_.file("app.log").c_str(), dir_.file("app.log.1").c_str()), 0);
  ASSERT_EQ(::kill(::getpid(), SIGHUP), 0);
  ASSERT_TRUE(eventually([&] { return fs::exists(dir_.file("app.log")); }))
      << "SIGHUP did not reopen";
  logger.info("after");
  const auto records = test_support::flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["message"].string, "after");
}

TEST_F(RotationTest, ExplicitReopen) {
  auto options = file_options(dir_.path());
  options.reopen_check_interval = std::chrono::hours(1);
  logging::configure(options);
  StructuredLogger logger("reopen");
  logger.info("before");
  logging::flush();
  ASSERT_EQ(::rename(dir_.file("app.log").c_str(), dir_.file("app.log.old").c_str()), 0);
  logging::reopen();
  EXPECT_TRUE(fs::exists(dir_.file("app.log")));
  logger.info("after");
  const auto records = test_support::flushed_records(dir_.path());
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["message"].string, "after");
}

// A disk that fills up: a 64 KiB tmpfs, half taken by a filler file. Needs CAP_SYS_ADMIN (the
// CI container runs as root); skipped where mounting is not allowed.
TEST_F(RotationTest, DiskFullIsReportedOnceAndWritingResumes) {
  const std::string mount_point = dir_.file("tiny");
  fs::create_directory(mount_point);
  if (::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=64k") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mount_point};
  const std::string filler = mount_point + "/filler";
  { std::ofstream(filler) << std::string(32 << 10, 'f'); }
  test_support::CaptureFd errors(STDERR_FILENO, dir_.file("stderr.txt"));

  auto options = file_options(mount_point);
  options.max_bytes = 0;  // no rotation: the file grows until the disk is full
  logging::configure(options);
  StructuredLogger logger("disk");
  const std::string padding(200, 'd');
  const auto start = logging::stats();
  for (int i = 0; i < 2000 && logging::stats().write_errors == start.write_errors; ++i) {
    logger.info("filling", {{"i", i}, {"padding", padding}});
    if (i % 20 == 0) logging::flush();
  }
  logging::flush();
  const auto full = logging::stats();
  ASSERT_GT(full.write_errors, start.write_errors) << "the tmpfs never filled up";
  for (int i = 0; i < 50; ++i) logger.info("still full", {{"padding", padding}});
  logging::flush();
  EXPECT_GE(logging::stats().records_dropped, full.records_dropped + 50);

  fs::remove(filler);  // space again: the application never noticed, logging resumes
  logger.info("resumed");
  const auto records = test_support::flushed_records(mount_point);  // every line parses
  errors.restore();
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.back()["message"].string, "resumed");
  const std::string text = errors.text();
  const std::string failure =
      "cannot write log file " + mount_point + "/app.log: No space left on device";
  EXPECT_NE(text.find(failure), std::string::npos) << text;
  EXPECT_EQ(text.find(failure), text.rfind(failure)) << "reported more than once: " << text;
  EXPECT_NE(text.find("resumed"), std::string::npos) << text;
  logging::shutdown();
}

// Two threads write while the file rotates every 32 KiB: every line must be found exactly
// once across app.log and its backups, in each thread's order.
TEST(RotationConcurrency, EveryLineExactlyOnceUnderTwoWriters) {
  TempDir dir;
  auto options = file_options(dir.path());
  options.max_bytes = 32 << 10;
  options.backup_count = 1000;
  logging::configure(options);
  constexpr int kPerThread = 4000;
  auto writer = [](int thread) {
    StructuredLogger logger("writer");
    for (int i = 0; i < kPerThread; ++i) logger.info("line", {{"thread", thread}, {"seq", i}});
  };
  std::thread first(writer, 1);
  std::thread second(writer, 2);
  first.join();
  second.join();
  logging::shutdown();

  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path())) ++files;
  EXPECT_GT(files, 10);
  std::map<int, std::vector<int>> seen;
  for (const auto& record : test_support::parse_all(all_log_lines(dir.path())))
    seen[static_cast<int>(record["thread"].number)].push_back(
        static_cast<int>(record["seq"].number));
  ASSERT_EQ(seen.size(), 2u);
  for (const auto& [thread, sequence] : seen) {
    ASSERT_EQ(sequence.size(), static_cast<std::size_t>(kPerThread)) << "thread " << thread;
    for (int i = 0; i < kPerThread; ++i)
      ASSERT_EQ(sequence[static_cast<std::size_t>(i)], i) << "thread " << thread;
  }
}

}  // namespace
