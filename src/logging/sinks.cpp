#include "sinks.hpp"

#include <fcntl.h>
#include <libdeflate.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "clock.hpp"
#include "core/ascii.hpp"
#include "monitoring/error.hpp"
#include "runtime.hpp"

namespace monitoring::logging::detail {
namespace {

std::string error_text(int error) {
  char buffer[128];
  // GNU strerror_r: returns a pointer to the message (maybe not `buffer`).
  return std::string(strerror_r(error, buffer, sizeof buffer));
}

// Our own diagnostics go straight to fd 2: the logging pipeline may be what is failing.
void print_stderr(const std::string& text) {
  const std::string line = "monitoring: " + text + "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

// Writes all of `data`; returns how many bytes were written before an error (sets `error`).
std::size_t write_fully(int fd, const char* data, std::size_t size, int& error) {
  std::size_t done = 0;
  error = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = errno;
      break;
    }
    if (n == 0) {
      error = EIO;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  return done;
}

std::uint64_t count_lines(std::string_view text) {
  return static_cast<std::uint64_t>(std::count(text.begin(), text.end(), '\n'));
}

// Compresses `source` into `target` (through a temporary, renamed at the end).
bool gzip_file(const std::string& source, const std::string& target, std::string& problem) {
  const int in = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    problem = "cannot open " + source + ": " + error_text(errno);
    return false;
  }
  const std::string temporary = target + ".tmp";
  const int out = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    problem = "cannot create " + temporary + ": " + error_text(errno);
    ::close(in);
    return false;
  }
  std::unique_ptr<libdeflate_compressor, decltype(&libdeflate_free_compressor)> compressor(
      libdeflate_alloc_compressor(6), &libdeflate_free_compressor);
  struct stat info {};
  ::fstat(in, &info);
  // One member per 4 MiB bounds memory whatever the file size.
  const std::size_t kChunk =
      std::clamp<std::size_t>(static_cast<std::size_t>(info.st_size), 1, 4u << 20);
  std::vector<char> input(kChunk);
  std::vector<char> output(libdeflate_gzip_compress_bound(compressor.get(), kChunk));
  bool ok = compressor != nullptr;
  if (!ok) problem = "out of memory";
  while (ok) {
    std::size_t filled = 0;
    while (filled < kChunk) {
      const ssize_t n = ::read(in, input.data() + filled, kChunk - filled);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        problem = "cannot read " + source + ": " + error_text(errno);
        ok = false;
      }
      if (n <= 0) break;
      filled += static_cast<std::size_t>(n);
    }
    if (!ok || filled == 0) break;
    const std::size_t compressed = libdeflate_gzip_compress(compressor.get(), input.data(), filled,
                                                            output.data(), output.size());
    int error = 0;
    if (compressed == 0 || write_fully(out, output.data(), compressed, error) != compressed) {
      problem = "cannot write " + temporary + ": " + error_text(error != 0 ? error : EIO);
      ok = false;
    }
    if (filled < kChunk) break;
  }
  ::close(in);
  // No fsync (as logrotate): it would cost a disk flush per rotation, and the data is safe
  // from a process crash once written.
  if (::close(out) != 0 && ok) {
    problem = "cannot write " + temporary + ": " + error_text(errno);
    ok = false;
  }
  if (ok && ::rename(temporary.c_str(), target.c_str()) != 0) {
    problem = "cannot rename " + temporary + ": " + error_text(errno);
    ok = false;
  }
  if (!ok) {
    ::unlink(temporary.c_str());
    return false;
  }
  ::unlink(source.c_str());
  return true;
}

// What to call the directory in messages: the operator who set LOG_DIR looks for LOG_DIR, not
// for the option's name. The options do not say where log_dir came from (LoggingOptions::
// from_env, MonitoringConfig::from_env, code), so the variable's value tells: a log_dir equal
// to it (as read, or trimmed as MonitoringConfig reads it) came from it.
std::string log_dir_setting(const std::string& directory) {
  const char* variable = std::getenv("LOG_DIR");
  if (variable != nullptr && !directory.empty() &&
      (directory == variable || directory == core::trim(variable)))
    return "LOG_DIR";
  return "log_dir";
}

}  // namespace

// ---- WriteReporter ---------------------------------------------------------------------

void WriteReporter::failed(int error, std::uint64_t lost_records) {
  count_write_error();
  if (!counts_records_) {
    if (!failing_)
      print_stderr("cannot write " + output_ + ": " + error_text(error) +
                   "; log records still go to the log file");
    failing_ = true;
    return;
  }
  if (lost_records != 0) count_write_lost(lost_records);
  lost_ += lost_records;
  if (!failing_) {
    failing_ = true;
    print_stderr("cannot write " + output_ + ": " + error_text(error) +
                 "; log records are dropped (and counted in monitoring_log_records_dropped_total) "
                 "until writing succeeds");
  }
}

void WriteReporter::succeeded() {
  if (!failing_) return;
  failing_ = false;
  if (!counts_records_) {
    print_stderr("writing " + output_ + " resumed");
    return;
  }
  print_stderr("writing " + output_ + " resumed; " + std::to_string(lost_) + " records were lost");
  lost_ = 0;
}

// ---- Compressor ------------------------------------------------------------------------

Compressor::~Compressor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Compressor::submit(std::string path) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(path));
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  changed_.notify_all();
}

void Compressor::wait_idle() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return jobs_.empty() && !busy_; });
}

void Compressor::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    // Finish queued work even when stopping: a half-done backup would be lost otherwise.
    changed_.wait(lock, [&] { return !jobs_.empty() || stopping_; });
    if (jobs_.empty()) return;
    std::string path = std::move(jobs_.front());
    jobs_.pop_front();
    busy_ = true;
    lock.unlock();
    std::string problem;
    if (!gzip_file(path, path + ".gz", problem)) {
      count_write_error();
      print_stderr("cannot compress log backup: " + problem + " (left uncompressed)");
    }
    lock.lock();
    busy_ = false;
    changed_.notify_all();
  }
}

// ---- FileSink --------------------------------------------------------------------------

FileSink::FileSink(const LoggingOptions& options)
    : directory_(options.log_dir),
      setting_(log_dir_setting(options.log_dir)),
      path_((std::filesystem::path(options.log_dir) / options.file_name).string()),
      max_bytes_(options.max_bytes),
      backup_count_(options.backup_count),
      daily_(options.daily_rotation),
      compress_(options.compress_backups),
      check_interval_(options.reopen_check_interval),
      reporter_("log file " + path_, true) {
  if (options.file_name.empty() || options.file_name.find('/') != std::string::npos)
    throw ConfigError("log file name \"" + options.file_name + "\" must be a plain file name");
  std::error_code error;
  std::filesystem::create_directories(directory_, error);
  if (error)
    throw ConfigError(setting_ + " \"" + directory_ + "\" cannot be created: " + error.message());
  // Rotation creates and renames files in the directory, so it must be writable too.
  if (::access(directory_.c_str(), W_OK | X_OK) != 0)
    throw ConfigError(setting_ + " \"" + directory_ + "\" is not writable: " + error_text(errno));
  open_file(true);
  buffer_.reserve(1u << 20);
}

FileSink::~FileSink() {
  flush();
  if (fd_ >= 0) ::close(fd_);
  // ~Compressor finishes pending backups.
}

namespace {

// Read access too: remove_cut_line() checks what it truncates. A file we may only write is
// still used.
int open_for_append(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0 || errno != EACCES) return fd;
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

}  // namespace

bool FileSink::open_file(bool throw_on_error) {
  int fd = open_for_append(path_);
  if (fd < 0 && errno == ENOENT && !throw_on_error) {
    // The directory was removed under us (a cleanup job, an operator): make it again rather
    // than dropping every record from now on.
    std::error_code error;
    if (std::filesystem::create_directories(directory_, error))
      print_stderr(setting_ + " \"" + directory_ + "\" was missing and has been created again");
    fd = open_for_append(path_);
  }
  if (fd < 0) {
    const int error = errno;
    if (throw_on_error)
      throw ConfigError(setting_ + " \"" + directory_ + "\" is not writable: cannot open " + path_ +
                        ": " + error_text(error));
    reporter_.failed(error, 0);
    return false;
  }
  struct stat info {};
  ::fstat(fd, &info);
  if (fd_ >= 0) ::close(fd_);
  newline_first_ = false;
  fd_ = fd;
  size_ = static_cast<std::uint64_t>(info.st_size);
  inode_ = info.st_ino;
  device_ = info.st_dev;
  const std::int64_t now_day = unix_day(realtime_ns());
  // A non-empty file left from an earlier run belongs to the day it was last written.
  day_ = size_ > 0 ? unix_day(static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000)
                   : now_day;
  return true;
}

std::string FileSink::backup_name(unsigned index) const {
  return path_ + "." + std::to_string(index);
}

void FileSink::after_line(std::size_t line_start) {
  if (max_bytes_ == 0) return;
  if (size_ + buffer_.size() <= max_bytes_ || size_ + line_start == 0) return;
  // The new line would overflow the file: write what precedes it, rotate, keep the line.
  std::string line = buffer_.substr(line_start);
  buffer_.resize(line_start);
  flush();
  rotate();
  buffer_ += line;
}

bool FileSink::open_file_deleted() const {
  struct stat info {};
  return fd_ >= 0 && ::fstat(fd_, &info) == 0 && info.st_nlink == 0;
}

void FileSink::flush() {
  if (buffer_.empty()) return;
  // One fstat per batch: records written into a deleted file would vanish without an error.
  // (A deletion between this check and the write below still loses that one batch.)
  if (open_file_deleted()) {
    print_stderr("log file " + path_ + " was deleted; writing to a new one");
    ::close(fd_);
    fd_ = -1;
  }
  if (fd_ < 0 && !open_file(false)) {
    reporter_.failed(ENOENT, count_lines(buffer_));
    buffer_.clear();
    return;
  }
  int error = 0;
  if (newline_first_ && write_fully(fd_, "\n", 1, error) == 1) {
    newline_first_ = false;
    ++size_;
  }
  std::size_t written = 0;
  if (error == 0) written = write_fully(fd_, buffer_.data(), buffer_.size(), error);
  size_ += written;
  if (error != 0) {
    // The buffer holds whole lines; the write stopped after `complete` bytes of them.
    const std::size_t last_newline =
        written == 0 ? std::string::npos : buffer_.rfind('\n', written - 1);
    const std::size_t complete = last_newline == std::string::npos ? 0 : last_newline + 1;
    if (complete < written)
      remove_cut_line(std::string_view(buffer_).substr(complete, written - complete));
    reporter_.failed(error, count_lines(std::string_view(buffer_).substr(complete)));
  } else {
    reporter_.succeeded();
  }
  buffer_.clear();
}

// A cut line is taken off the file at once and its record counted as lost, rather than
// completed by a later write: the file may be moved, deleted, rotated or closed at shutdown
// before any later write succeeds, and a completion that never comes leaves a torn line and
// a record counted nowhere. Truncating leaves the file right whatever happens next.
void FileSink::remove_cut_line(std::string_view piece) {
  struct stat info {};
  if (::fstat(fd_, &info) == 0 && static_cast<std::uint64_t>(info.st_size) >= piece.size()) {
    // Only when the file still ends with our piece: another process appending to the same
    // file (O_APPEND makes that safe) may have written after it.
    const off_t start = info.st_size - static_cast<off_t>(piece.size());
    std::string found(piece.size(), '\0');
    std::size_t got = 0;
    while (got < found.size()) {
      const ssize_t n =
          ::pread(fd_, found.data() + got, found.size() - got, start + static_cast<off_t>(got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (found == piece && ::ftruncate(fd_, start) == 0) {
      size_ = static_cast<std::uint64_t>(start);
      return;
    }
  }
  // The file keeps the piece (append-only, or written after): at least the next record
  // starts on a line of its own.
  newline_first_ = true;
}

void FileSink::rotate() {
  compressor_.wait_idle();  // it may still be reading backup 1
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (backup_count_ == 0) {
    ::unlink(path_.c_str());
  } else {
    const std::string oldest = backup_name(backup_count_);
    ::unlink(oldest.c_str());
    ::unlink((oldest + ".gz").c_str());
    for (unsigned index = backup_count_ - 1; index >= 1; --index) {
      const std::string from = backup_name(index);
      const std::string to = backup_name(index + 1);
      ::rename(from.c_str(), to.c_str());
      ::rename((from + ".gz").c_str(), (to + ".gz").c_str());
    }
    const std::string first = backup_name(1);
    if (::rename(path_.c_str(), first.c_str()) == 0) {
      if (compress_) compressor_.submit(first);
    } else if (errno != ENOENT) {
      reporter_.failed(errno, 0);
    }
  }
  open_file(false);
}

void FileSink::tick(std::int64_t unix_ns, std::chrono::steady_clock::time_point now) {
  if (daily_ && unix_day(unix_ns) != day_) {
    flush();
    if (size_ > 0) {
      rotate();
    } else {
      day_ = unix_day(unix_ns);
    }
  }
  if (now < next_check_) return;
  next_check_ = now + check_interval_;
  check_file();
}

void FileSink::check_file() {
  struct stat open_file_info {};
  const bool known = fd_ >= 0 && ::fstat(fd_, &open_file_info) == 0;
  // logrotate's "create" mode moves the file away: reopen the path. ("copytruncate"
  // needs nothing: O_APPEND writes land at the new end.)
  struct stat by_path {};
  if (fd_ < 0 || ::stat(path_.c_str(), &by_path) != 0 || by_path.st_ino != inode_ ||
      by_path.st_dev != device_) {
    flush();
    open_file(false);
  } else if (known) {
    size_ = static_cast<std::uint64_t>(open_file_info.st_size);
  }
}

void FileSink::reopen() {
  check_file();
  flush();
  open_file(false);
}

void FileSink::sync() {
  flush();
  if (fd_ >= 0) ::fdatasync(fd_);
}

// ---- ConsoleSink -----------------------------------------------------------------------

ConsoleSink::ConsoleSink(ConsoleTarget target, bool json, ColorMode colors, bool counts_records)
    : fd_(target == ConsoleTarget::kStdout ? STDOUT_FILENO : STDERR_FILENO),
      json_(json),
      colors_(colors == ColorMode::kAlways || (colors == ColorMode::kAuto && ::isatty(fd_) == 1 &&
                                               std::getenv("NO_COLOR") == nullptr)),
      reporter_(target == ConsoleTarget::kStdout ? "stdout" : "stderr", counts_records) {
  buffer_.reserve(256u << 10);
}

void ConsoleSink::flush() {
  if (buffer_.empty()) return;
  int error = 0;
  const std::size_t written = write_fully(fd_, buffer_.data(), buffer_.size(), error);
  if (error != 0)
    reporter_.failed(error, count_lines(std::string_view(buffer_).substr(written)));
  else
    reporter_.succeeded();
  buffer_.clear();
}

}  // namespace monitoring::logging::detail
