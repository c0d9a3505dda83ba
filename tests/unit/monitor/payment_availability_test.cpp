// payment_system_availability has one writer per provider: the payment:<name> health check
// while one exists, the application's setter otherwise (issue 13, point 8).

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "monitoring/monitoring.hpp"
#include "support/local_http_peer.hpp"

namespace monitoring {
namespace {

using namespace std::chrono_literals;
using metrics::CustomMetrics;
using testing::CannedAnswer;
using testing::http_answer;
using testing::LocalHttpPeer;
using testing::RecordedRequest;

health::CheckContext within(std::chrono::milliseconds timeout) {
  return health::CheckContext{std::chrono::steady_clock::now() + timeout};
}

LocalHttpPeer answering(int status) {
  return LocalHttpPeer([=](const RecordedRequest&) {
    return CannedAnswer{http_answer(status, "Whatever", "body", {})};
  });
}

metrics::Gauge& availability(const std::string& payment_system) {
  metrics::register_catalog();
  return metrics::Registry::default_registry()
      .gauge("payment_system_availability", "Payment system availability (1 up, 0 down).",
             {"payment_system"})
      .labels(payment_system);
}

/// The warnings the refused setter logs, through the record observer.
class RefusalLog {
 public:
  explicit RefusalLog(const std::filesystem::path& dir) {
    logging::LoggingOptions options;
    options.log_dir = dir.string();
    options.console = logging::ConsoleTarget::kNone;
    logging::configure(options);
    subscription_ = logging::subscribe_records(
        [this](const logging::RecordView& view) {
          if (view.message.find("set_payment_system_availability ignored") == std::string::npos)
            return;
          std::lock_guard lock(mutex_);
          messages_.emplace_back(view.message);
        },
        logging::Level::kWarning);
  }
  ~RefusalLog() {
    subscription_.reset();
    logging::shutdown();
  }
  std::vector<std::string> messages() {
    logging::flush();
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> messages_;
  logging::RecordSubscription subscription_;  // last: unsubscribed before the members go
};

/// A provider name of its own for each run: the gauges and the one-time warning are per process,
/// so a repeated test (--gtest_repeat) must not see the previous run's.
std::string fresh(const std::string& name) {
  static std::atomic<int> runs{0};
  return name + "_" + std::to_string(runs.fetch_add(1));
}

std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("monitoring-payment-availability-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

TEST(PaymentAvailability, WithoutACheckTheApplicationSetterWrites) {
  EXPECT_FALSE(CustomMetrics::payment_system_has_health_check("pa_app_only"));
  CustomMetrics::set_payment_system_availability("pa_app_only", true);
  EXPECT_EQ(availability("pa_app_only").value(), 1.0);
  CustomMetrics::set_payment_system_availability("pa_app_only", false);
  EXPECT_EQ(availability("pa_app_only").value(), 0.0);
}

TEST(PaymentAvailability, WithACheckOnlyTheCheckWritesAndTheSetterWarnsOnce) {
  const auto dir = temp_dir("refused");
  RefusalLog log(dir);
  auto down = answering(502);
  const std::string name = fresh("pa_checked");
  {
    health::CheckFunction check = health::payment_system_check(name, down.url("/"));
    EXPECT_TRUE(CustomMetrics::payment_system_has_health_check(name));
    EXPECT_FALSE(CustomMetrics::payment_system_has_health_check("pa_other"));
    check(within(2s));
    EXPECT_EQ(availability(name).value(), 0.0);
    // The application believes the provider is up: refused, the check's reading stays.
    CustomMetrics::set_payment_system_availability(name, true);
    CustomMetrics::set_payment_system_availability(name, true);
    EXPECT_EQ(availability(name).value(), 0.0);
    // Copies of the check (HealthChecker keeps one) hold the claim as well.
    health::CheckFunction copy = check;
    check = nullptr;
    EXPECT_TRUE(CustomMetrics::payment_system_has_health_check(name));
    CustomMetrics::set_payment_system_availability(name, true);
    EXPECT_EQ(availability(name).value(), 0.0);
  }
  const auto warnings = log.messages();
  ASSERT_EQ(warnings.size(), 1u) << "one warning for the first refused call only";
  EXPECT_NE(warnings[0].find("payment:" + name + " health check"), std::string::npos)
      << warnings[0];

  // The last copy is gone: the application's setter writes again.
  EXPECT_FALSE(CustomMetrics::payment_system_has_health_check(name));
  CustomMetrics::set_payment_system_availability(name, true);
  EXPECT_EQ(availability(name).value(), 1.0);
  std::filesystem::remove_all(dir);
}

TEST(PaymentAvailability, PaymentSystemsFromTheConfigOwnTheirGaugeUntilShutdown) {
  const auto dir = temp_dir("setup");
  auto up = answering(200);
  const std::string name = fresh("pa_configured");
  auto server = setup_monitoring({
      .log_dir = (dir / "logs").string(),
      .enable_monitoring_server = false,
      .payment_systems = {{name, up.url("/")}},
      .log_console = "none",
  });
  EXPECT_TRUE(CustomMetrics::payment_system_has_health_check(name));
  server.health_checker()->check();
  EXPECT_EQ(availability(name).value(), 1.0) << "the check wrote its reading";
  CustomMetrics::set_payment_system_availability(name, false);
  EXPECT_EQ(availability(name).value(), 1.0) << "the application's write was refused";
  shutdown_monitoring(server);
  EXPECT_FALSE(CustomMetrics::payment_system_has_health_check(name));
  std::filesystem::remove_all(dir);
}

// Checks are created and destroyed (HealthChecker copies, setup and shutdown) on other threads
// than the application's setter calls and the checks' own runs; ThreadSanitizer runs this suite.
TEST(PaymentAvailabilityConcurrency, ChecksComeAndGoWhileTheApplicationSetsAndChecksRun) {
  auto up = answering(200);
  const std::string url = up.url("/");
  std::atomic<bool> stop{false};
  std::thread setter([&] {
    while (!stop.load()) {
      CustomMetrics::set_payment_system_availability("pa_busy", false);
      (void)CustomMetrics::payment_system_has_health_check("pa_busy");
    }
  });
  std::thread churn([&] {
    for (int i = 0; i < 200; ++i) {
      health::CheckFunction check = health::payment_system_check("pa_busy", url);
      health::CheckFunction copy = check;
      check = nullptr;
    }
  });
  health::CheckFunction kept = health::payment_system_check("pa_busy", url);
  for (int i = 0; i < 5; ++i) kept(within(2s));
  churn.join();
  // The kept check still owns the gauge: the setter's "down" never lands after its reading.
  kept(within(2s));
  EXPECT_EQ(availability("pa_busy").value(), 1.0);
  EXPECT_TRUE(CustomMetrics::payment_system_has_health_check("pa_busy"));
  stop.store(true);
  setter.join();
  EXPECT_EQ(availability("pa_busy").value(), 1.0);
  kept = nullptr;
  EXPECT_FALSE(CustomMetrics::payment_system_has_health_check("pa_busy"));
}

}  // namespace
}  // namespace monitoring
