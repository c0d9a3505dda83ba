#include "monitoring/metrics/process_collector.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace monitoring::metrics {

namespace {

std::string read_file(const char* path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

double boot_time_seconds() {
  std::istringstream in(read_file("/proc/stat"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) return std::strtod(line.c_str() + 6, nullptr);
  }
  return 0;
}

double count_open_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  double count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the descriptor opendir itself holds
}

void write_one(MetricWriter& writer, const char* name, const char* help, MetricType type,
               double value) {
  writer.family(name, help, type);
  writer.sample({}, {}, {}, value);
}

}  // namespace

void ProcessCollector::collect(MetricWriter& writer) const {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));

  // /proc/self/stat: "pid (comm) state ..."; comm may hold spaces and parens, so split after
  // the last ')'. Field 3 (state) is then index 0.
  const std::string stat = read_file("/proc/self/stat");
  std::vector<std::string> fields;
  if (const auto close = stat.rfind(')'); close != std::string::npos) {
    std::istringstream in(stat.substr(close + 1));
    std::string field;
    while (in >> field) fields.push_back(field);
  }
  auto field = [&](int number) -> double {  // 1-based field number as in proc(5)
    const std::size_t index = static_cast<std::size_t>(number - 3);
    return index < fields.size() ? std::strtod(fields[index].c_str(), nullptr) : 0.0;
  };
  if (fields.size() >= 22) {
    write_one(writer, "process_cpu_seconds_total",
              "Total user and system CPU time spent in seconds.", MetricType::kCounter,
              (field(14) + field(15)) / ticks);
    write_one(writer, "process_resident_memory_bytes", "Resident memory size in bytes.",
              MetricType::kGauge, field(24) * page);
    write_one(writer, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
              MetricType::kGauge, field(23));
    write_one(writer, "process_start_time_seconds",
              "Start time of the process since unix epoch in seconds.", MetricType::kGauge,
              boot_time_seconds() + field(22) / ticks);
    write_one(writer, "process_threads", "Number of OS threads in the process.", MetricType::kGauge,
              field(20));
  }
  if (const double fds = count_open_fds(); fds >= 0)
    write_one(writer, "process_open_fds", "Number of open file descriptors.", MetricType::kGauge,
              fds);
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    const double max_fds =
        limit.rlim_cur == RLIM_INFINITY ? INFINITY : static_cast<double>(limit.rlim_cur);
    write_one(writer, "process_max_fds", "Maximum number of open file descriptors.",
              MetricType::kGauge, max_fds);
  }
}

void register_process_collector(Registry& registry) {
  // One shared instance: Registry::add_collector ignores an object it already has, so this is
  // idempotent per registry without remembering registry addresses (a destroyed registry's
  // address can be reused by a new one).
  static const auto instance = std::make_shared<const ProcessCollector>();
  registry.add_collector(instance);
}

}  // namespace monitoring::metrics
