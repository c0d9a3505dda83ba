#pragma once

// Waiting on a state instead of a fixed time: poll `condition` until it holds or `timeout`
// passes. The timeout is an upper bound for slow machines (sanitizers, shared CI), not the
// expected wait; a passing test returns as soon as the state is reached.

#include <chrono>
#include <thread>

namespace monitoring::testing {

/// True as soon as `condition()` is true; false when it still is not after `timeout`. The
/// condition is evaluated once more after the deadline, so a slow last poll is not lost.
/// `poll` is how often to look: keep it small for in-process state, larger when each look costs
/// a request to another server.
template <class Condition>
bool eventually(Condition&& condition,
                std::chrono::steady_clock::duration timeout = std::chrono::seconds(10),
                std::chrono::steady_clock::duration poll = std::chrono::milliseconds(1)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return static_cast<bool>(condition());
    // A poll interval, not a guess at how long the state takes: the loop exits on the state.
    std::this_thread::sleep_for(poll);
  }
  return true;
}

}  // namespace monitoring::testing
