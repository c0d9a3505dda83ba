#pragma once

// Helpers shared by the logging tests: temporary directories, stdout/stderr capture,
// reading every log file (backups and gzip included) as JSON.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <libdeflate.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "monitoring/logging.hpp"
#include "support/json_reader.hpp"

namespace test_support {

namespace fs = std::filesystem;

/// A fresh directory under the system temp dir, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "monitoring-logging-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

/// Redirects a file descriptor (1 or 2) into a file for its lifetime.
class CaptureFd {
 public:
  CaptureFd(int fd, const std::string& target) : fd_(fd), target_(target) {
    ::fflush(nullptr);
    saved_ = ::dup(fd_);
    const int file = ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ::dup2(file, fd_);
    ::close(file);
  }
  ~CaptureFd() { restore(); }
  void restore() {
    if (saved_ < 0) return;
    ::fflush(nullptr);
    ::dup2(saved_, fd_);
    ::close(saved_);
    saved_ = -1;
  }
  std::string text() const {
    std::ifstream in(target_, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  }

 private:
  int fd_;
  std::string target_;
  int saved_ = -1;
};

/// Options writing JSON to `dir/app.log` only (no console), quick reopen checks.
inline monitoring::logging::LoggingOptions file_options(const std::string& dir) {
  monitoring::logging::LoggingOptions options;
  options.log_dir = dir;
  options.console = monitoring::logging::ConsoleTarget::kNone;
  options.reopen_check_interval = std::chrono::milliseconds(20);
  return options;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

/// Decompresses a (possibly multi-member) gzip file.
inline std::string gunzip(const std::string& path) {
  const std::string compressed = read_file(path);
  libdeflate_decompressor* decompressor = libdeflate_alloc_decompressor();
  std::string out;
  std::size_t offset = 0;
  std::string member(1u << 20, '\0');
  while (offset < compressed.size()) {
    std::size_t in_used = 0, out_size = 0;
    auto result = libdeflate_gzip_decompress_ex(decompressor, compressed.data() + offset,
                                                compressed.size() - offset, member.data(),
                                                member.size(), &in_used, &out_size);
    if (result == LIBDEFLATE_INSUFFICIENT_SPACE && member.size() < (1u << 30)) {
      member.resize(member.size() * 4);
      continue;
    }
    if (result != LIBDEFLATE_SUCCESS) {
      libdeflate_free_decompressor(decompressor);
      throw std::runtime_error("bad gzip member in " + path);
    }
    out.append(member.data(), out_size);
    offset += in_used;
  }
  libdeflate_free_decompressor(decompressor);
  return out;
}

inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (end == std::string::npos) {
      lines.push_back(text.substr(start));  // an unterminated last line (a test failure)
      break;
    }
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

/// Lines of `dir/app.log` and its backups, oldest file first (app.log.N ... app.log.1,
/// app.log), gzip backups decompressed.
inline std::vector<std::string> all_log_lines(const std::string& dir) {
  std::vector<std::pair<int, std::string>> files;  // (backup index, path); app.log is 0
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name == "app.log") {
      files.emplace_back(0, entry.path().string());
    } else if (name.rfind("app.log.", 0) == 0) {
      std::string number = name.substr(8);
      if (number.size() > 3 && number.substr(number.size() - 3) == ".gz")
        number.resize(number.size() - 3);
      if (!number.empty() && std::all_of(number.begin(), number.end(), ::isdigit))
        files.emplace_back(std::stoi(number), entry.path().string());
    }
  }
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> lines;
  for (const auto& [index, path] : files) {
    const bool gz = path.size() > 3 && path.substr(path.size() - 3) == ".gz";
    for (std::string& line : split_lines(gz ? gunzip(path) : read_file(path)))
      lines.push_back(std::move(line));
  }
  return lines;
}

inline std::vector<test_json::Value> parse_all(const std::vector<std::string>& lines) {
  std::vector<test_json::Value> values;
  for (const std::string& line : lines) {
    try {
      values.push_back(test_json::parse(line));
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what() << " in line: " << line.substr(0, 300);
    }
  }
  return values;
}

/// Flushes logging and parses dir/app.log.
inline std::vector<test_json::Value> flushed_records(const std::string& dir) {
  monitoring::logging::flush();
  return parse_all(split_lines(read_file((fs::path(dir) / "app.log").string())));
}

/// Runs `body` in a forked child, which then aborts: success when the child died by SIGABRT
/// (a body that throws makes it exit 3 instead). For the fatal-signal paths, which end the
/// process; the assertions stay in the parent.
template <class Body>
::testing::AssertionResult child_aborts_after(Body body) {
  const pid_t child = ::fork();
  if (child < 0) return ::testing::AssertionFailure() << "fork failed";
  if (child == 0) {
    try {
      body();
    } catch (...) {
      ::_exit(3);
    }
    std::abort();
  }
  int status = 0;
  if (::waitpid(child, &status, 0) != child) return ::testing::AssertionFailure() << "waitpid";
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
    return ::testing::AssertionFailure()
           << "the child ended with status " << status << ", not by SIGABRT";
  return ::testing::AssertionSuccess();
}

}  // namespace test_support
