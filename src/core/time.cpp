#include "core/time.hpp"

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

namespace monitoring::core {
namespace {

/// CLOCK_BOOTTIME in seconds: the clock /proc/<pid>/stat's starttime is measured on.
double boot_seconds() noexcept {
  timespec now{};
  if (::clock_gettime(CLOCK_BOOTTIME, &now) != 0) return -1;
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

/// The process start in seconds after boot, or a negative value when /proc is unreadable.
double process_start_after_boot() noexcept {
  try {
    std::ifstream stat("/proc/self/stat");
    const std::string text((std::istreambuf_iterator<char>(stat)),
                           std::istreambuf_iterator<char>());
    // The command name (field 2) may hold spaces and ')': the fields resume after the last ')'.
    const std::size_t close = text.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream fields(text.substr(close + 1));
    std::string field;
    for (int index = 3; index <= 22 && fields >> field; ++index)
      if (index == 22) {
        const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
        if (ticks_per_second <= 0) return -1;
        return std::stod(field) / static_cast<double>(ticks_per_second);
      }
  } catch (...) {
  }
  return -1;
}

const std::chrono::steady_clock::time_point kLibraryLoaded = std::chrono::steady_clock::now();

}  // namespace

std::string format_utc(std::chrono::system_clock::time_point time, int fraction_digits) {
  using namespace std::chrono;
  if (fraction_digits < 0) fraction_digits = 0;
  if (fraction_digits > 9) fraction_digits = 9;
  const std::int64_t nanos = duration_cast<nanoseconds>(time.time_since_epoch()).count();
  std::int64_t seconds = nanos / 1'000'000'000;
  std::int64_t fraction = nanos % 1'000'000'000;
  if (fraction < 0) {
    fraction += 1'000'000'000;
    --seconds;
  }
  for (int digits = 9; digits > fraction_digits; --digits) fraction /= 10;
  const std::time_t whole = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&whole, &tm);
  char text[128];  // sized for any int fields, though real dates need at most 30 bytes
  int length = std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  if (fraction_digits > 0)
    length += std::snprintf(text + length, sizeof text - static_cast<std::size_t>(length),
                            ".%0*lld", fraction_digits, static_cast<long long>(fraction));
  std::string out(text, static_cast<std::size_t>(length));
  out += 'Z';
  return out;
}

double process_uptime_seconds() noexcept {
  static const double start = process_start_after_boot();
  if (const double now = boot_seconds(); start >= 0 && now >= start) return now - start;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - kLibraryLoaded).count();
}

}  // namespace monitoring::core
