#pragma once

// Record timestamps. The caller stores a raw tick count; the backend turns it into UTC.
//
// With an invariant TSC (constant rate, synchronized across cores: CPUID 0x80000007 EDX
// bit 8) a tick is one rdtsc: 9.6 ns per call on the CI machine against 23 ns for
// clock_gettime(CLOCK_REALTIME) through the vDSO, and the log call's budget is 25 ns.
// The backend maps ticks to wall time with a rate measured at startup and a base pair
// (ticks, realtime) refreshed every second, so NTP slewing and steps are followed within a
// second. Without an invariant TSC (or off x86-64) ticks are CLOCK_REALTIME nanoseconds.

#include <cstdint>
#include <ctime>

#include "hot_state.hpp"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace monitoring::logging::detail {

inline std::int64_t realtime_ns() noexcept {
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

inline std::uint64_t now_ticks() noexcept {
#if defined(__x86_64__)
  if (g_ticks_are_tsc) return __rdtsc();
#endif
  return static_cast<std::uint64_t>(realtime_ns());
}

/// Decides the tick source and measures the TSC rate (about 10 ms, once per process).
void initialize_clock();

/// Converts ticks to Unix nanoseconds. Owned by the backend thread.
class TickConverter {
 public:
  TickConverter();
  /// Takes a new (ticks, realtime) base pair; call about once a second.
  void resync();
  std::int64_t to_unix_ns(std::uint64_t ticks) const noexcept {
    if (!g_ticks_are_tsc) return static_cast<std::int64_t>(ticks);
    const auto delta = static_cast<std::int64_t>(ticks - base_ticks_);
    return base_ns_ + static_cast<std::int64_t>(static_cast<double>(delta) * ns_per_tick_);
  }

 private:
  std::uint64_t base_ticks_ = 0;
  std::int64_t base_ns_ = 0;
  double ns_per_tick_ = 1.0;
  // The first pair: the rate is refined over the whole span since then.
  std::uint64_t anchor_ticks_ = 0;
  std::int64_t anchor_ns_ = 0;
};

}  // namespace monitoring::logging::detail
