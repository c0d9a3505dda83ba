// The standard process_* metrics: present, with the right types, and plausible values.

#include "monitoring/metrics/process_collector.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include "metrics_test_util.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {
namespace {

using test::sample_value;

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string scrape_process_metrics(ExpositionFormat format = ExpositionFormat::kText) {
  Registry registry;
  register_process_collector(registry);
  return serialize(registry, format);
}

TEST(ProcessCollectorTest, AllSevenMetricsWithTypes) {
  const std::string text = scrape_process_metrics();
  const std::pair<const char*, const char*> expected[] = {
      {"process_cpu_seconds_total", "counter"},
      {"process_resident_memory_bytes", "gauge"},
      {"process_virtual_memory_bytes", "gauge"},
      {"process_open_fds", "gauge"},
      {"process_max_fds", "gauge"},
      {"process_start_time_seconds", "gauge"},
      {"process_threads", "gauge"}};
  for (const auto& [name, type] : expected) {
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " " + type + "\n"), std::string::npos)
        << name << "\n"
        << text;
    EXPECT_NE(text.find(std::string("# HELP ") + name + " "), std::string::npos) << name;
    EXPECT_TRUE(sample_value(text, name).has_value()) << name << "\n" << text;
  }
}

TEST(ProcessCollectorTest, ValuesArePlausible) {
  // A second thread that is alive for the whole scrape.
  std::promise<void> scraped;
  std::thread helper_thread([done = scraped.get_future()] { done.wait(); });
  const double now = unix_now();
  const std::string text = scrape_process_metrics();
  scraped.set_value();
  helper_thread.join();

  const double cpu = sample_value(text, "process_cpu_seconds_total").value_or(-1);
  EXPECT_GE(cpu, 0.0);
  EXPECT_LT(cpu, 3600.0);
  const double resident = sample_value(text, "process_resident_memory_bytes").value_or(0);
  const double virtual_bytes = sample_value(text, "process_virtual_memory_bytes").value_or(0);
  EXPECT_GT(resident, 1024.0 * 1024);  // a C++ test binary maps more than 1 MiB
  EXPECT_GE(virtual_bytes, resident);
  const double open_fds = sample_value(text, "process_open_fds").value_or(0);
  EXPECT_GE(open_fds, 3.0);  // stdin, stdout, stderr at least
  const double max_fds = sample_value(text, "process_max_fds").value_or(0);
  EXPECT_GE(max_fds, open_fds);
  const double start = sample_value(text, "process_start_time_seconds").value_or(0);
  EXPECT_LE(start, now + 2);  // /proc/stat's btime has whole-second resolution
  EXPECT_GT(start, now - 3600);
  EXPECT_GE(sample_value(text, "process_threads").value_or(0), 2.0);  // main + helper_thread
}

// Open descriptors counted independently: entries of /proc/self/fd, minus the one the
// directory iteration itself holds.
double independent_open_fds() {
  double entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++entries;
  return entries - 1;
}

TEST(ProcessCollectorTest, OpenFdsMatchesAnIndependentCount) {
  const double reported = sample_value(scrape_process_metrics(), "process_open_fds").value_or(-1);
  EXPECT_EQ(reported, independent_open_fds());
}

TEST(ProcessCollectorTest, OpenFdsFollowsOpenAndClose) {
  auto open_fds = [] {
    return sample_value(scrape_process_metrics(), "process_open_fds").value_or(-1);
  };
  const double before = open_fds();
  int fds[8];
  for (int& fd : fds) fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const double during = open_fds();
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(during, before + 8);
  EXPECT_EQ(open_fds(), before);
}

TEST(ProcessCollectorTest, CpuCounterIsTotalInOpenMetrics) {
  const std::string om = scrape_process_metrics(ExpositionFormat::kOpenMetrics);
  EXPECT_NE(om.find("# TYPE process_cpu_seconds counter\n"), std::string::npos) << om;
  EXPECT_TRUE(sample_value(om, "process_cpu_seconds_total").has_value()) << om;
}

TEST(ProcessCollectorTest, RegisteringTwiceExposesOnce) {
  Registry registry;
  register_process_collector(registry);
  register_process_collector(registry);
  const std::string text = serialize(registry);
  const std::string type_line = "# TYPE process_threads gauge\n";
  const auto first = text.find(type_line);
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(text.find(type_line, first + 1), std::string::npos) << text;
}

TEST(ProcessCollectorTest, EachNewRegistryGetsItsOwnCollector) {
  // A registry created where a destroyed one lived must still get process metrics.
  for (int i = 0; i < 3; ++i) {
    Registry registry;
    register_process_collector(registry);
    EXPECT_NE(serialize(registry).find("process_open_fds "), std::string::npos) << "round " << i;
  }
}

}  // namespace
}  // namespace monitoring::metrics
