#pragma once

// GET /status: one self-contained HTML page for a person (no script, no external asset, works
// offline and on a phone): the health checks and heartbeats, the last errors, and charts of
// the catalog's key figures over the last 15 minutes from an in-process ring of samples.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "monitoring/health/check.hpp"
#include "monitoring/health/heartbeat.hpp"
#include "monitoring/logging/observer.hpp"

namespace monitoring::health {
class HealthChecker;
}
namespace monitoring::server {
class HttpServer;
}

namespace monitoring::detail {

/// One point of the charts: the figures over the interval that ended at `at`. NaN where the
/// interval had nothing to measure (no handler ran, no payment was attempted).
struct StatusSample {
  std::chrono::system_clock::time_point at;
  double updates_per_second = 0;
  double errors_per_second = 0;
  double handler_p95_seconds = 0;
  std::map<std::string, double> payment_success_ratio;  ///< payment_system -> 0..1
};

/// Takes a sample of the catalog every `interval` on its own thread and keeps those of the
/// last 15 minutes; remembers the last error records (already scrubbed by the logging
/// backend). Stops in its destructor.
class StatusSampler {
 public:
  static constexpr std::chrono::minutes kWindow{15};
  static constexpr std::size_t kLastErrors = 20;

  struct ErrorEntry {
    std::string time, logger, type, message;
  };

  /// `interval` 0 takes samples only when sample_now is called (tests).
  explicit StatusSampler(std::chrono::milliseconds interval);
  ~StatusSampler();
  StatusSampler(const StatusSampler&) = delete;
  StatusSampler& operator=(const StatusSampler&) = delete;

  /// Reads the catalog now and appends the figures since the previous reading.
  void sample_now(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());
  std::vector<StatusSample> samples() const;
  std::vector<ErrorEntry> last_errors() const;
  std::chrono::milliseconds interval() const noexcept { return interval_; }
  /// Stops the sampling thread and the error subscription; the figures stay readable.
  /// Idempotent; the destructor calls it.
  void stop() noexcept;

 private:
  struct Reading;
  void run();

  const std::chrono::milliseconds interval_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::unique_ptr<Reading> previous_;
  std::deque<StatusSample> samples_;
  std::deque<ErrorEntry> errors_;
  logging::RecordSubscription errors_subscription_;
  std::thread thread_;
};

/// What the page shows besides the sampler's figures.
struct StatusPageInput {
  std::string service;  ///< service name and version, for the title
  health::HealthReport health;
  std::vector<health::HeartbeatRegistry::Entry> heartbeats;
  std::vector<StatusSample> samples;
  std::vector<StatusSampler::ErrorEntry> errors;
  std::chrono::milliseconds refresh{10000};
};

/// The page's HTML.
std::string render_status_page(const StatusPageInput& input);

/// Serves GET /status from `health`, the process heartbeats and `sampler`; with a token set,
/// only to `Authorization: Bearer <token>`.
void install_status_route(server::HttpServer& server, const health::HealthChecker& health,
                          std::shared_ptr<StatusSampler> sampler, std::string auth_token,
                          std::string service);

}  // namespace monitoring::detail
