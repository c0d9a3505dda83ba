#pragma once

// A stack overflow on purpose, for the crash-capture tests (unit and integration).

#include <atomic>

namespace test_crash {

inline std::atomic<bool> g_keep_recursing{true};
inline volatile int g_depth_sink = 0;

/// Recurses until the thread's stack runs out. Frames are small, so the guard page is hit,
/// not jumped over.
[[gnu::noinline]] inline int overflow_stack(int depth) {
  volatile char frame[256];
  frame[0] = static_cast<char>(depth);
  if (g_keep_recursing.load(std::memory_order_relaxed)) g_depth_sink = overflow_stack(depth + 1);
  return frame[0] + depth;
}

}  // namespace test_crash
