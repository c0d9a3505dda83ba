// setup_monitoring binds its port before it starts anything that writes or sends, so a second
// instance on a taken port fails without touching the first one's log directory or sending
// from the shared offline cache; and its error says what to change.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>

#include "monitoring/monitoring.hpp"

namespace monitoring {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path dir =
      fs::temp_directory_path() / ("monitoring-setup-order-" + std::to_string(::getpid()) + name);
  fs::remove_all(dir);
  return dir;
}

MonitoringConfig loopback_config(const fs::path& log_dir) {
  MonitoringConfig config;
  config.monitoring_host = "127.0.0.1";
  config.monitoring_port = 0;
  config.shutdown_grace = std::chrono::milliseconds(200);
  config.log_dir = log_dir.string();
  return config;
}

TEST(SetupOrder, ASecondInstanceOnATakenPortStartsNoLoggingAndNoSentry) {
  const fs::path first_logs = fresh_dir("-first");
  auto first = setup_monitoring(loopback_config(first_logs));

  const fs::path second_logs = fresh_dir("-second");
  const fs::path second_cache = fresh_dir("-cache");
  MonitoringConfig config = loopback_config(second_logs);
  config.monitoring_port = first.port();
  config.sentry_dsn = "http://publickey@127.0.0.1:9/42";
  config.sentry_cache_dir = second_cache.string();
  try {
    auto second = setup_monitoring(config);
    ADD_FAILURE() << "a second server started on port " << first.port();
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr(std::to_string(first.port())));
    EXPECT_THAT(error.what(), HasSubstr("choose another MONITORING_PORT): bind: "));
    EXPECT_THAT(error.what(), Not(HasSubstr("not an address")));
  }
  EXPECT_FALSE(fs::exists(second_logs)) << "logging started before the port was bound";
  EXPECT_FALSE(fs::exists(second_cache)) << "Sentry started before the port was bound";
  EXPECT_FALSE(sentry::is_enabled());
  EXPECT_TRUE(first.running());

  shutdown_monitoring(first);
  fs::remove_all(first_logs);
}

TEST(SetupOrder, AnAddressThisMachineDoesNotHaveIsNamedAsSuch) {
  const fs::path logs = fresh_dir("-foreign");
  MonitoringConfig config = loopback_config(logs);
  config.monitoring_host = "192.0.2.1";  // TEST-NET-1: never a local address
  try {
    auto server = setup_monitoring(config);
    ADD_FAILURE() << "listening on 192.0.2.1";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("192.0.2.1"));
    EXPECT_THAT(error.what(),
                HasSubstr("MONITORING_HOST is not an address of this machine's network "
                          "interfaces): bind: "));
    EXPECT_THAT(error.what(), Not(HasSubstr("another process")));
    // One hint, setup's (naming the variable), not the server's as well.
    EXPECT_THAT(error.what(), Not(HasSubstr("192.0.2.1 is not an address")));
  }
  EXPECT_FALSE(fs::exists(logs));
}

}  // namespace
}  // namespace monitoring
