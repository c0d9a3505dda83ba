#pragma once

// What every log call reads besides its logger and its queue, kept on one cache line: after
// a thread sleeps, each line a call touches may be a cache miss, and the first call of a
// burst pays for each one.

#include <atomic>
#include <cstdint>

#include "monitoring/logging/options.hpp"
#include "ring.hpp"

namespace monitoring::logging::detail {

enum class RunState : std::uint8_t { kNotStarted, kRunning, kStopped };

struct alignas(kCacheLine) HotState {
  // Published with release by configure()/shutdown(); the hot path loads it with acquire.
  std::atomic<RunState> run_state{RunState::kNotStarted};
  // Knobs (relaxed: a record encoded under the previous value is still valid).
  std::atomic<OverflowPolicy> overflow{OverflowPolicy::kBlock};
  // Written once, by the first configure(), before logging is published as running;
  // producers read it only after seeing "running" (acquire), so a plain bool is race-free.
  bool ticks_are_tsc = false;
  std::atomic<std::uint32_t> max_field_bytes{16u << 10};
};
extern constinit HotState g_hot;

inline constexpr std::atomic<RunState>& g_run_state = g_hot.run_state;
inline constexpr std::atomic<OverflowPolicy>& g_overflow = g_hot.overflow;
inline constexpr std::atomic<std::uint32_t>& g_max_field_bytes = g_hot.max_field_bytes;
inline constexpr bool& g_ticks_are_tsc = g_hot.ticks_are_tsc;

}  // namespace monitoring::logging::detail
