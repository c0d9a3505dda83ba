// MonitoringConfig::throw_traces (MONITORING_THROW_TRACES) reaches the throw hook through
// setup_monitoring.

#include <gtest/gtest.h>

#include <cstdint>
#include <exception>
#include <filesystem>
#include <stdexcept>

#include "monitoring/monitor.hpp"
#include "stacktrace/throw_site.hpp"

namespace {

namespace throws = monitoring::stacktrace::detail;

[[gnu::noinline]] void refuse() {
  throw std::runtime_error("refused");
}

std::uint32_t throw_site_frames() {
  try {
    refuse();
  } catch (...) {
    void* frames[throws::kMaxThrowFrames];
    return throws::throw_site(std::current_exception(), frames, throws::kMaxThrowFrames);
  }
  return 0;
}

monitoring::MonitoringConfig config_with(bool throw_traces) {
  monitoring::MonitoringConfig config;
  config.enable_monitoring_server = false;
  config.log_dir =
      (std::filesystem::temp_directory_path() / "monitoring-throw-traces-test-logs").string();
  config.throw_traces = throw_traces;
  return config;
}

}  // namespace

TEST(SetupMonitoringThrowTraces, TheConfigTurnsThrowSiteRecordingOffAndOn) {
  {
    auto monitoring = monitoring::setup_monitoring(config_with(false));
    EXPECT_FALSE(throws::throw_traces_enabled());
    EXPECT_EQ(throw_site_frames(), 0u);
  }
  {
    auto monitoring = monitoring::setup_monitoring(config_with(true));
    EXPECT_TRUE(throws::throw_traces_enabled());
    EXPECT_GT(throw_site_frames(), 0u);
  }
  throws::set_throw_traces(true);
  std::filesystem::remove_all(config_with(true).log_dir);
}
