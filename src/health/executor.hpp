#pragma once

// The health checks' own threads: an elastic pool for running checks and a timer thread for
// deadlines and background refresh. Neither ever joins a thread that may be stuck in a check.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace monitoring::health::detail {

/// A pool that starts a thread whenever a task finds no idle one (up to `max_threads`) and
/// lets threads retire after `idle_timeout`. Threads are detached and share the pool's state,
/// so a task stuck forever costs one thread, never a hang of shutdown().
class ElasticPool {
 public:
  ElasticPool(std::size_t max_threads, std::chrono::milliseconds idle_timeout);
  ~ElasticPool();
  ElasticPool(const ElasticPool&) = delete;
  ElasticPool& operator=(const ElasticPool&) = delete;

  /// Queues `task`; false (task dropped) after shutdown.
  bool post(std::function<void()> task);
  /// Refuses new tasks, drops queued ones, and waits up to `grace` for running tasks. Threads
  /// still busy after that are left to finish on their own. Idempotent.
  void shutdown(std::chrono::milliseconds grace);

  std::size_t threads() const;

 private:
  struct State;
  static void work(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

/// One thread running callbacks at given times. Callbacks run outside the lock and must be
/// short. stop() joins the thread, or detaches it when called from one of its callbacks (the
/// thread owns a share of the state, so it may outlive this object).
class TimerThread {
  struct State;

 public:
  /// Identifies one scheduled callback, so it can be dropped once it is no longer needed (a
  /// check that finished before its deadline). Safe to use after the timer is gone.
  class Ticket {
   public:
    Ticket() = default;
    /// Drops the callback unless it already ran.
    void cancel() const;

   private:
    friend class TimerThread;
    std::weak_ptr<State> state_;
    std::chrono::steady_clock::time_point when_{};
    std::uint64_t id_ = 0;
  };

  TimerThread();
  ~TimerThread();
  TimerThread(const TimerThread&) = delete;
  TimerThread& operator=(const TimerThread&) = delete;

  /// Runs `callback` at `when` (at once when in the past); ignored after stop().
  Ticket schedule(std::chrono::steady_clock::time_point when, std::function<void()> callback);
  void stop();

 private:
  static void run(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace monitoring::health::detail
