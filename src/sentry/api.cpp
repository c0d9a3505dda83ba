// The client's lifecycle in the public API: init (validating the options), close, flush,
// is_enabled and stats. Capturing is in capture.cpp, the scope setters in scope.cpp.

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "core/json_writer.hpp"
#include "monitoring/sentry/client.hpp"
#include "sentry/client.hpp"
#include "sentry/crash.hpp"
#include "sentry/log_capture.hpp"
#include "sentry/signal_safe.hpp"

namespace monitoring::sentry {

using detail::Client;

namespace {

std::mutex g_lifecycle_mutex;  // init and close

/// close() with g_lifecycle_mutex held (init replaces a running client through it too).
void close_locked(std::optional<std::chrono::milliseconds> timeout) {
  std::shared_ptr<Client> client = detail::unpublish_client();
  if (!client) return;
  if (client->options().capture_logs) detail::uninstall_log_capture();
  detail::uninstall_crash_handlers();
  client->close(timeout.value_or(client->options().shutdown_timeout));
}

std::once_flag g_exit_hook_once;

// How long the exit waits for workers close() left behind to block or end (a worker builds
// an event in milliseconds; past close()'s deadline it drops the rest unbuilt).
constexpr std::chrono::milliseconds kExitGateLimit{1000};

// At the process's exit the running client closes as close() would (within its
// shutdown_timeout): an application that never calls close() still sends, or caches, what it
// captured. Then the workers close() left behind are kept off the objects exit destroys next.
// Registered by the first init, after the objects those workers use, so it runs before their
// destructors.
void close_at_exit() {
  {
    std::lock_guard lifecycle(g_lifecycle_mutex);
    close_locked(std::nullopt);
  }
  detail::stop_workers_for_exit(kExitGateLimit);
}

}  // namespace

void init(Options options) {
  Dsn dsn = Dsn::parse(options.dsn);
  auto check_rate = [](std::string_view name, double rate) {
    if (!(rate >= 0.0 && rate <= 1.0))
      throw SentryError("sentry: " + std::string(name) + " " + std::to_string(rate) +
                        " is not a rate between 0 and 1");
  };
  check_rate("sample_rate", options.sample_rate);
  check_rate("traces_sample_rate", options.traces_sample_rate);
  if (options.queue_size == 0) throw SentryError("sentry: queue_size 0 would drop every event");
  if (options.max_breadcrumbs > 1000)
    throw SentryError("sentry: max_breadcrumbs " + std::to_string(options.max_breadcrumbs) +
                      " is above 1000");
  if (!options.release.empty()) {
    if (std::string problem = release_problem(options.release); !problem.empty())
      throw SentryError("sentry: release " + monitoring::detail::json_quote(options.release) +
                        " is not valid: " + problem);
  }
  if (options.http_timeout.count() <= 0)
    throw SentryError("sentry: http_timeout " + std::to_string(options.http_timeout.count()) +
                      " ms must be positive");
  std::call_once(g_exit_hook_once, [] { std::atexit(close_at_exit); });
  std::lock_guard lifecycle(g_lifecycle_mutex);
  close_locked(std::nullopt);
  detail::breadcrumb_log().set_limit(options.max_breadcrumbs);
  auto client = std::make_shared<Client>(std::move(options), std::move(dsn));
  client->set_self(client);
  client->start();
  if (client->options().crash_handler && !client->options().cache_dir.empty()) {
    std::error_code ignored;
    std::filesystem::create_directories(client->options().cache_dir, ignored);
    detail::install_crash_handlers(client->options().cache_dir);
  }
  detail::publish_client(client);
  if (client->options().capture_logs) detail::install_log_capture(client);
}

std::string release_problem(std::string_view release) {
  constexpr std::size_t kMaxLength = 200;
  if (release.size() > kMaxLength)
    return "a Sentry release has at most " + std::to_string(kMaxLength) + " characters, not " +
           std::to_string(release.size());
  if (release.find_first_not_of(' ') == std::string_view::npos)
    return "a Sentry release is not empty or blank";
  if (release == "." || release == "..") return "a Sentry release is not \".\" or \"..\"";
  if (release.find_first_of("/\\") != std::string_view::npos)
    return "a Sentry release has no '/' or '\\'";
  for (const char c : release)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return "a Sentry release has no control characters";
  return {};
}

bool is_enabled() noexcept {
  return detail::client_published();
}

bool flush(std::chrono::milliseconds timeout) {
  auto client = detail::active_client();
  return client ? client->flush(timeout) : true;
}

void close(std::optional<std::chrono::milliseconds> timeout) {
  std::lock_guard lifecycle(g_lifecycle_mutex);
  close_locked(timeout);
}

Stats stats() {
  auto client = detail::active_client();
  return client ? client->stats() : Stats{};
}

}  // namespace monitoring::sentry
