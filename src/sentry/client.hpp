#pragma once

// The running Sentry client: a bounded queue and the background thread behind it.
//
// Callers never take a lock of the client: an event goes into a lock-free intake (a
// multi-producer, single-consumer list bounded by a counter) and a POSIX semaphore wakes the
// worker (sem_post only makes a system call when the worker sleeps). Drops on the caller side
// (sampling, a full queue) are atomic counters the worker folds into its client reports.

#include <semaphore.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "sentry/internal.hpp"

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
  bool enqueue(std::unique_ptr<Captured> captured);
  /// A finished sampled transaction; false (and a queue_overflow discard) when full.
  bool enqueue_transaction(std::unique_ptr<TransactionRecord> record);
  /// Caller side, lock-free: an error event that sample_rate left out.
  void discard_sampled_out() noexcept;
  /// Counts a dropped item for the next client report (takes the client's lock).
  void discard(std::string_view reason, std::string_view category, std::uint64_t count = 1);
  bool flush(std::chrono::milliseconds timeout);
  void close(std::chrono::milliseconds timeout);
  Stats stats() const;

 private:
  enum class SendResult { kSent, kDropped, kFailed };
  /// One item of the lock-free intake (an event or a transaction).
  struct IntakeNode {
    std::atomic<IntakeNode*> next{nullptr};
    std::unique_ptr<Captured> captured;
    std::unique_ptr<TransactionRecord> transaction;
  };
  /// Drops counted without the lock, folded into discards_ by the worker.
  enum LockFreeDrop : std::size_t { kSampledOut, kOverflowError, kOverflowTransaction, kDropKinds };
  struct Work {
    std::unique_ptr<Captured> captured;  // an event to assemble, or
    std::string raw;                     // an envelope from the cache directory
    std::string cache_file;
    std::string crash_file;  // a crash record of an earlier run
    std::unique_ptr<TransactionRecord> transaction;
  };

  void discard_locked(std::string_view reason, std::string_view category, std::uint64_t count = 1);
  bool admit(std::unique_ptr<IntakeNode> node);
  void count_drop(LockFreeDrop kind) noexcept;
  void fold_drops_locked();
  void intake_push(IntakeNode* node) noexcept;
  IntakeNode* intake_pop() noexcept;  // worker only
  /// Stops the intake and waits for callers that are inside admit() (a few instructions).
  void close_intake() noexcept;
  void wake_worker() noexcept;
  void run();
  void process(Work& work);
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

  // The intake: producers exchange intake_head_; the worker owns intake_tail_. A stub node
  // keeps the list non-empty.
  IntakeNode intake_stub_;
  std::atomic<IntakeNode*> intake_head_{&intake_stub_};
  IntakeNode* intake_tail_ = &intake_stub_;
  std::atomic<std::size_t> intake_size_{0};  // accepted, not yet taken by the worker
  // (callers inside admit() << 1) | 1 once closed: close() waits until no caller is inside.
  std::atomic<std::uint64_t> admission_{0};
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
  bool exited_ = false;
  DiscardCounts discards_;
  RateLimits limits_;
  Stats stats_;
  std::string in_flight_;       // the envelope being sent
  std::string in_flight_file_;  // where close() cached it when the send outlived the deadline

  std::shared_ptr<Client> self_;
  std::thread worker_;
};

/// The running client (null when Sentry is off).
std::shared_ptr<Client> active_client();
/// The global scope as of now.
std::shared_ptr<const ScopeData> global_scope_snapshot();
/// True with probability `rate` (thread-local generator, no lock).
bool sample(double rate);

}  // namespace monitoring::sentry::detail
