#include "clock.hpp"

#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace monitoring::logging::detail {

namespace {

struct Calibration {
  double ns_per_tick = 1.0;
  std::uint64_t ticks = 0;
  std::int64_t ns = 0;
};
Calibration g_calibration;  // written once by initialize_clock (under the control lock)

#if defined(__x86_64__)
bool invariant_tsc() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx)) return false;
  return (edx >> 8) & 1;
}

// A (ticks, realtime) pair taken as close together as possible: the realtime read is
// bracketed by two rdtsc and the tightest of a few tries wins (a preemption in between
// would otherwise skew the pair by microseconds).
void sample_pair(std::uint64_t& ticks, std::int64_t& ns) {
  std::uint64_t best = std::numeric_limits<std::uint64_t>::max();
  for (int attempt = 0; attempt < 7; ++attempt) {
    const std::uint64_t before = __rdtsc();
    const std::int64_t now = realtime_ns();
    const std::uint64_t after = __rdtsc();
    if (after - before < best) {
      best = after - before;
      ticks = before + (after - before) / 2;
      ns = now;
    }
  }
}
#endif

}  // namespace

void initialize_clock() {
  static bool initialized = false;
  if (initialized) return;
  initialized = true;
#if defined(__x86_64__)
  if (!invariant_tsc()) return;
  std::uint64_t t0 = 0, t1 = 0;
  std::int64_t n0 = 0, n1 = 0;
  sample_pair(t0, n0);
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  sample_pair(t1, n1);
  if (t1 <= t0 || n1 <= n0) return;
  const double rate = static_cast<double>(n1 - n0) / static_cast<double>(t1 - t0);
  if (!(rate > 0.01 && rate < 10.0)) return;  // 100 MHz .. 100 GHz, else distrust the TSC
  g_calibration = Calibration{rate, t1, n1};
  g_ticks_are_tsc = true;
#endif
}

TickConverter::TickConverter()
    : ns_per_tick_(g_calibration.ns_per_tick),
      anchor_ticks_(g_calibration.ticks),
      anchor_ns_(g_calibration.ns) {
  resync();
}

void TickConverter::resync() {
#if defined(__x86_64__)
  if (!g_ticks_are_tsc) return;
  std::uint64_t ticks = 0;
  std::int64_t ns = 0;
  sample_pair(ticks, ns);
  if (ticks > anchor_ticks_ && ns > anchor_ns_) {
    const double rate =
        static_cast<double>(ns - anchor_ns_) / static_cast<double>(ticks - anchor_ticks_);
    // Within 0.1%: a better estimate over a longer span. Otherwise the wall clock was
    // stepped: keep the rate, restart the span from here.
    if (std::fabs(rate / ns_per_tick_ - 1.0) < 1e-3) {
      ns_per_tick_ = rate;
    } else {
      anchor_ticks_ = ticks;
      anchor_ns_ = ns;
    }
  }
  base_ticks_ = ticks;
  base_ns_ = ns;
#endif
}

}  // namespace monitoring::logging::detail
