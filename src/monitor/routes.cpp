#include "monitor/routes.hpp"

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::detail {
namespace {

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

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

double process_uptime_seconds() noexcept {
  static const double start = process_start_after_boot();
  if (const double now = boot_seconds(); start >= 0 && now >= start) return now - start;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - kLibraryLoaded).count();
}

bool bearer_token_matches(std::string_view authorization, std::string_view token) noexcept {
  constexpr std::string_view kScheme = "bearer";
  if (token.empty() || authorization.size() <= kScheme.size()) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i)
    if (lower(authorization[i]) != kScheme[i]) return false;
  std::string_view presented = authorization.substr(kScheme.size());
  if (presented.front() != ' ') return false;
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  while (!presented.empty() && (presented.back() == ' ' || presented.back() == '\t'))
    presented.remove_suffix(1);

  // Every byte of the expected token is compared whatever the presented one holds, so the
  // time depends only on the token's length, not on how much of it an attacker guessed.
  unsigned difference = presented.size() == token.size() ? 0u : 1u;
  for (std::size_t i = 0; i < token.size(); ++i) {
    const char offered = i < presented.size() ? presented[i] : '\0';
    difference |= static_cast<unsigned char>(offered ^ token[i]);
  }
  return difference == 0;
}

void install_metrics_route(server::HttpServer& server, const MonitoringConfig& config) {
  server.route("/metrics", [token = config.monitoring_auth_token](const server::Request& request) {
    server::Response response;
    if (!token.empty()) {
      const std::string_view authorization = request.header("Authorization");
      if (!bearer_token_matches(authorization, token)) {
        response.status = 401;
        response.body = "authentication required\n";
        // RFC 6750 §3: a presented but wrong token is "invalid_token"; none at all gets no error.
        response.headers.emplace_back("WWW-Authenticate",
                                      authorization.empty()
                                          ? "Bearer realm=\"monitoring\""
                                          : "Bearer realm=\"monitoring\", error=\"invalid_token\"");
        return response;
      }
    }
    const auto format = metrics::negotiate_format(request.header("Accept"));
    response.content_type = std::string(metrics::content_type(format));
    response.body = metrics::serialize(metrics::Registry::default_registry(), format);
    if (metrics::accepts_gzip(request.header("Accept-Encoding"))) {
      response.body = metrics::gzip_compress(response.body);
      response.headers.emplace_back("Content-Encoding", "gzip");
    }
    // Caches must key on both negotiated headers.
    response.headers.emplace_back("Vary", "Accept, Accept-Encoding");
    return response;
  });
}

}  // namespace monitoring::detail
