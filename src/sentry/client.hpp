#pragma once

// The running Sentry client: the worker thread behind the intake, and what it owns (the work
// from the cache directory, drop counts for client reports, stats, rate limits).
//
// Callers never take a lock of the client: an event goes into the lock-free intake
// (intake.hpp) and a POSIX semaphore wakes the worker (sem_post only makes a system call
// when the worker sleeps). Drops on the caller side (sampling, a full queue) are atomic
// counters the worker folds into its client reports. The caller-side members are inline:
// they run on every capture.

#include <semaphore.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "sentry/crash.hpp"
#include "sentry/event.hpp"
#include "sentry/intake.hpp"
#include "sentry/rate_limits.hpp"
#include "sentry/session.hpp"
#include "sentry/versioned_cache.hpp"

namespace monitoring::sentry::detail {

/// One client between init and close. The public functions reach it through a shared
/// pointer; the worker thread keeps it alive (`self_`) until it exits, even when close()
/// gave up waiting for a hanging send.
class Client {
 public:
  Client(Options options, Dsn dsn);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void set_self(std::shared_ptr<Client> self) { self_ = std::move(self); }
  /// Loads the cache directory and starts the worker.
  void start();

  const Options& options() const noexcept { return options_; }
  const Dsn& dsn() const noexcept { return dsn_; }
  const std::string& envelope_url() const noexcept { return url_; }
  const std::string& auth_header() const noexcept { return auth_; }

  /// Caller side, lock-free: false (and a queue_overflow discard) when the queue is full or
  /// the client is closing.
  bool enqueue(std::unique_ptr<Captured> captured) {
    auto node = std::make_unique<IntakeNode>();
    node->captured = std::move(captured);
    return admit(std::move(node));
  }
  /// A finished sampled transaction; false (and a queue_overflow discard) when full.
  bool enqueue_transaction(std::unique_ptr<TransactionRecord> record) {
    auto node = std::make_unique<IntakeNode>();
    node->transaction = std::move(record);
    return admit(std::move(node));
  }
  /// Caller side, lock-free: one more error in the live session. Called once per failure
  /// (after the one-event-per-exception dedupe), before sampling.
  void note_error() noexcept {
    if (sessions_) g_session_errors.fetch_add(1, std::memory_order_relaxed);
  }
  /// Caller side, lock-free: an error event that sample_rate left out.
  void discard_sampled_out() noexcept { count_drop(kSampledOut); }
  /// Counts a dropped item for the next client report (takes the client's lock).
  void discard(std::string_view reason, std::string_view category, std::uint64_t count = 1);
  bool flush(std::chrono::milliseconds timeout);
  void close(std::chrono::milliseconds timeout);
  Stats stats() const;

 private:
  enum class SendResult { kSent, kDropped, kFailed };
  /// Drops counted without the lock, folded into discards_ by the worker.
  enum LockFreeDrop : std::size_t { kSampledOut, kOverflowError, kOverflowTransaction, kDropKinds };
  struct Work {
    std::unique_ptr<Captured> captured;  // an event to assemble, or
    std::string raw;                     // an envelope from the cache directory
    std::string cache_file;
    std::string crash_file;  // a crash record of an earlier run
    std::unique_ptr<TransactionRecord> transaction;
    bool end_session = false;  // this client's session: close() ends it
    // A session an earlier run left open: crashed (with crash_file, whose record names it)
    // or abnormal (alone).
    std::unique_ptr<SessionFile> ended_session;
    CrashedSession crash;
  };

  void discard_locked(std::string_view reason, std::string_view category, std::uint64_t count = 1);
  /// Past close()'s deadline nothing more is sent, so an event or transaction is only worth
  /// building to be cached, and only as many as the cache holds. True (and counted) when this
  /// one is dropped unbuilt: a worker close() gave up on then ends in microseconds per item
  /// instead of symbolizing and serializing a full queue for nothing.
  bool drop_past_close_deadline(std::string_view category);
  bool admit(std::unique_ptr<IntakeNode> node) {
    const bool is_event = node->captured != nullptr;
    const bool accepted = intake_.try_push(node, [&] {
      accepted_.fetch_add(1, std::memory_order_relaxed);
      if (is_event) captured_.fetch_add(1, std::memory_order_relaxed);
    });
    if (accepted) {
      wake_worker();
    } else {
      count_drop(is_event ? kOverflowError : kOverflowTransaction);
    }
    return accepted;
  }
  void count_drop(LockFreeDrop kind) noexcept;
  void fold_drops_locked();
  void wake_worker() noexcept { ::sem_post(&wake_semaphore_); }
  void run();
  void process(Work& work);
  // Release health (session.hpp); worker thread, except begin_session (before it starts). The
  // worker sends the init update before anything else.
  void begin_session();
  /// The live session as an update with `status` now.
  Session live_update(std::string_view status);
  /// After an update went to the transport: its init is out unless it was dropped.
  void after_live_update(SendResult result, const Session& update);
  void send_live_session(std::string_view status);
  /// Sessions are rate limited: no update rides along with an event (its own send drops and
  /// counts them).
  bool session_limited();
  /// The update ending a session an earlier run left open (crashed when `work` has its crash).
  Session ended_update(const Work& work);
  /// Sends that update on its own (no crash event to go with) and removes the session's file.
  void send_ended_session(Work& work);
  /// Waits (bounded) until the log records the capturing thread wrote before the capture are
  /// breadcrumbs, and returns the breadcrumbs added since the capture's snapshot that are
  /// not later than the capture (other threads may have added later ones meanwhile).
  std::vector<Breadcrumb> late_log_breadcrumbs(const Captured& captured);
  // transport.cpp
  void send_pending_report();
  SendResult send_envelope(const std::string& envelope, std::string_view category,
                           const std::string& cache_file, bool persist = true);
  /// Writes an envelope into the cache directory (mutex_ held). Returns its path or "".
  std::string persist_locked(const std::string& envelope);
  void load_cache();

  const Options options_;
  const Dsn dsn_;
  std::string url_;
  std::string auth_;

  Intake intake_;
  std::atomic<std::uint64_t> accepted_{0};  // intake items ever accepted
  std::atomic<std::uint64_t> captured_{0};  // of which events (Stats::captured)
  std::atomic<std::uint64_t> lock_free_drops_[kDropKinds] = {};
  std::atomic<std::uint64_t> lock_free_dropped_{0};  // all of them, for Stats::dropped
  sem_t wake_semaphore_;  // posted for each intake item, on close and for cached work

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // retry backoff: ends early when stopping
  std::condition_variable idle_;  // flush/close: work done or worker exited
  std::deque<Work> queue_;        // the worker's own work (the cache directory)
  std::uint64_t finished_ = 0;    // intake items the worker is done with
  std::uint64_t settled_ = 0;     // finished_ when the worker last ran out of work
  bool busy_ = false;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point close_deadline_{};  // set with stopping_
  std::size_t cached_past_deadline_ = 0;  // items built after the deadline to be cached
  bool exited_ = false;
  DiscardCounts discards_;
  RateLimits limits_;
  Stats stats_;
  std::string in_flight_;       // the envelope being sent
  std::string in_flight_file_;  // where close() cached it when the send outlived the deadline

  // The last wait for the logging backend timed out: the next ones only look, until one
  // succeeds (a stuck backend must not hold up a burst of events 100 ms each).
  bool log_wait_timed_out_ = false;

  // The live session: set up before the worker starts, then the worker's alone.
  const bool sessions_;
  Session live_session_;
  std::unique_ptr<SessionFile> live_file_;
  bool live_init_pending_ = true;
  std::uint64_t live_reported_errors_ = 0;
  bool session_end_queued_ = false;  // guarded by mutex_

  std::shared_ptr<Client> self_;
  std::shared_ptr<std::atomic<bool>> worker_ended_ = std::make_shared<std::atomic<bool>>(false);
  std::thread worker_;
};

// The running client, published by init/close (client.cpp) and read by every capture
// through a per-thread VersionedCache.
// Hidden: in a shared library the capture path then reaches them as directly as file-local
// variables (no GOT load, no __tls_get_addr per variable).
[[gnu::visibility("hidden")]] extern std::mutex g_client_mutex;
[[gnu::visibility("hidden")]] extern std::shared_ptr<Client> g_client;  // guarded by g_client_mutex
[[gnu::visibility("hidden")]] extern std::atomic<std::uint64_t>
    g_client_version;  // bumped with every change of g_client
[[gnu::visibility("hidden")]] inline thread_local VersionedCache<Client> t_client;

/// The running client (null when Sentry is off), from this thread's cache.
inline std::shared_ptr<Client> active_client() {
  return t_client.get(g_client_version, g_client_mutex, g_client);
}
/// Makes `client` the running one.
void publish_client(std::shared_ptr<Client> client);
/// Takes the running client away (null when there was none).
std::shared_ptr<Client> unpublish_client();
/// True while a client is published.
bool client_published() noexcept;

/// Worker threads still running, including one that close() left behind on a hanging server
/// (it ends at its HTTP timeout or when the connection drops).
int live_transport_threads() noexcept;

/// For the process's exit (after the running client was closed): from now on a worker thread
/// that wakes up (from idleness or a finished send) touches nothing more and sleeps until the
/// process ends, since the objects it would use are about to be destroyed. Waits, at most
/// `limit`, for the workers running at this moment to reach such a point or end.
void stop_workers_for_exit(std::chrono::milliseconds limit) noexcept;

/// The worker's stretches that may block for long (waiting for work, an HTTP send) are
/// outside the exit gate above; entering and leaving one is how a worker tells it.
class BlockingSection {
 public:
  BlockingSection() noexcept;
  ~BlockingSection();  // parks the thread for good when the process is exiting
  BlockingSection(const BlockingSection&) = delete;
  BlockingSection& operator=(const BlockingSection&) = delete;
};

}  // namespace monitoring::sentry::detail
