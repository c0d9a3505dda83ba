#pragma once

// Helpers of the throw-site and dedupe tests: logging to a temporary directory, the value of
// errors_total, and the innermost application frame of an event or a logged trace.

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "monitoring/logging.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"
#include "sentry/event.hpp"
#include "support/json_reader.hpp"

namespace sentry_test {

/// Logging into a fresh temporary directory for the fixture's lifetime.
class LogToTempDir {
 public:
  LogToTempDir() {
    static std::atomic<int> next{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("monitoring-reports-" + std::to_string(::getpid()) + "-" +
            std::to_string(next.fetch_add(1)));
    std::filesystem::create_directories(dir_);
    monitoring::logging::LoggingOptions options;
    options.log_dir = dir_.string();
    options.console = monitoring::logging::ConsoleTarget::kNone;
    monitoring::logging::configure(options);
  }
  ~LogToTempDir() {
    monitoring::logging::shutdown();
    std::filesystem::remove_all(dir_);
  }
  LogToTempDir(const LogToTempDir&) = delete;
  LogToTempDir& operator=(const LogToTempDir&) = delete;

  /// Every record written so far.
  std::vector<test_json::Value> records() const {
    monitoring::logging::flush();
    std::vector<test_json::Value> out;
    std::ifstream in(dir_ / "app.log");
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(test_json::parse(line));
    return out;
  }

 private:
  std::filesystem::path dir_;
};

/// errors_total{error_type, module} in the default registry (0 when absent).
inline double errors_total(const std::string& type, const std::string& module) {
  const std::string text =
      monitoring::metrics::serialize(monitoring::metrics::Registry::default_registry());
  const std::string series = "errors_total{error_type=\"" + type + "\",module=\"" + module + "\"} ";
  const auto pos = text.find(series);
  return pos == std::string::npos ? 0.0 : std::stod(text.substr(pos + series.size()));
}

/// The function of the innermost in_app frame of an event's exception ("" when none).
inline std::string innermost_app_function(const test_json::Value& exception) {
  if (!exception.has("stacktrace")) return {};
  const auto& frames = exception["stacktrace"]["frames"].array;  // oldest call first
  for (auto it = frames.rbegin(); it != frames.rend(); ++it)
    if ((*it)["in_app"].boolean && it->has("function")) return (*it)["function"].string;
  return {};
}

/// Every frame of an event's exception, innermost last, for failure messages.
inline std::string frame_list(const test_json::Value& exception) {
  std::string out;
  if (!exception.has("stacktrace")) return out;
  for (const auto& frame : exception["stacktrace"]["frames"].array)
    out += (frame.has("function") ? frame["function"].string : std::string("?")) +
           (frame["in_app"].boolean ? " (in app)\n" : "\n");
  return out;
}

/// The same for a logged error.stack_trace, read the way the Sentry client reads it.
inline std::string innermost_app_function(const std::string& stack_text) {
  const auto frames = monitoring::sentry::detail::parse_stack_text(stack_text);
  for (auto it = frames.rbegin(); it != frames.rend(); ++it)
    if (it->in_app) return it->function;
  return {};
}

}  // namespace sentry_test
