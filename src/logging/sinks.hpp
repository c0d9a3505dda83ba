#pragma once

// Log outputs, driven by the backend thread only: the JSON file (rotation, reopen,
// background gzip of backups) and the console. Each keeps a large buffer the backend
// formats into and writes it with few big write() calls.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "monitoring/logging/options.hpp"

namespace monitoring::logging::detail {

/// Reports write failures of one output: counted every time, printed on stderr once per
/// episode (first failure, then "resumed" when a write succeeds again).
///
/// Records lost by the output that `counts_records` (the file, or the console when there is
/// no file) move from records_written to records_dropped, so written + dropped == logged.
/// The console next to a file only counts its failed writes: its records are in the file.
class WriteReporter {
 public:
  WriteReporter(std::string output, bool counts_records)
      : output_(std::move(output)), counts_records_(counts_records) {}
  void failed(int error, std::uint64_t lost_records);
  void succeeded();
  bool failing() const noexcept { return failing_; }

 private:
  std::string output_;
  bool counts_records_;
  bool failing_ = false;
  std::uint64_t lost_ = 0;
};

/// Gzips rotated files on its own thread (libdeflate, one gzip member per 4 MiB so memory
/// stays bounded; gunzip/zcat read multi-member files as one stream).
class Compressor {
 public:
  Compressor() = default;
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  /// Compresses `path` into `path.gz` and removes `path`.
  void submit(std::string path);
  /// Waits until no job is queued or running.
  void wait_idle();

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> jobs_;
  bool busy_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

/// `log_dir/file_name`, ECS JSON lines, opened with O_APPEND.
class FileSink {
 public:
  /// Creates the directory if needed and opens the file; throws ConfigError naming the
  /// directory when that fails or the directory is not writable.
  explicit FileSink(const LoggingOptions& options);
  ~FileSink();
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  std::string& buffer() noexcept { return buffer_; }
  /// Call after appending one line that starts at `line_start` in buffer(): rotates first
  /// if the line would push the file past max_bytes.
  void after_line(std::size_t line_start);
  /// Writes the buffer out.
  void flush();
  /// Periodic work (every backend iteration): daily rotation and the moved-file check.
  void tick(std::int64_t unix_ns, std::chrono::steady_clock::time_point now);
  /// Closes and reopens the path (SIGHUP, logging::reopen()).
  void reopen();
  /// flush() + fdatasync (only on the fatal-signal path: the machine may go down next).
  void sync();
  const std::string& path() const noexcept { return path_; }

 private:
  bool open_file(bool throw_on_error);
  void rotate();
  std::string backup_name(unsigned index) const;
  /// Reopens when the path no longer names the open file (moved by logrotate, deleted, its
  /// directory removed).
  void check_file();
  /// True when the open file has been deleted (alone or with its directory): writing on would
  /// lose every record, so flush() starts a new file first.
  bool open_file_deleted() const;
  /// Takes `piece`, the start of a line a failed write cut, off the end of the file again.
  void remove_cut_line(std::string_view piece);

  std::string directory_;
  std::string setting_;  // "LOG_DIR" or "log_dir", for messages
  std::string path_;
  std::uint64_t max_bytes_;
  unsigned backup_count_;
  bool daily_;
  bool compress_;
  std::chrono::milliseconds check_interval_;

  int fd_ = -1;
  std::uint64_t size_ = 0;  // bytes in the open file
  std::int64_t day_ = 0;    // UTC day number the open file belongs to
  std::uint64_t inode_ = 0, device_ = 0;
  std::chrono::steady_clock::time_point next_check_{};
  std::string buffer_;
  // The file refused to drop a cut line (append-only): end it before the next record.
  bool newline_first_ = false;
  WriteReporter reporter_;
  Compressor compressor_;
};

/// stdout or stderr.
class ConsoleSink {
 public:
  /// `counts_records`: the console is the only output (see WriteReporter).
  ConsoleSink(ConsoleTarget target, bool json, ColorMode colors, bool counts_records);
  std::string& buffer() noexcept { return buffer_; }
  bool json() const noexcept { return json_; }
  bool colors() const noexcept { return colors_; }
  void flush();

 private:
  int fd_;
  bool json_;
  bool colors_;
  std::string buffer_;
  WriteReporter reporter_;
};

/// Days since 1970-01-01 (UTC) of a Unix time in nanoseconds.
inline std::int64_t unix_day(std::int64_t unix_ns) {
  const std::int64_t seconds =
      unix_ns >= 0 ? unix_ns / 1'000'000'000 : (unix_ns + 1) / 1'000'000'000 - 1;
  return seconds >= 0 ? seconds / 86400 : (seconds + 1) / 86400 - 1;
}

}  // namespace monitoring::logging::detail
