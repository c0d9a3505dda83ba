#pragma once

// The running Sentry client: a bounded queue and the background thread behind it.

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

  /// Caller side: false (and a queue_overflow discard) when the queue is full.
  bool enqueue(std::unique_ptr<Captured> captured);
  /// A finished sampled transaction; false (and a queue_overflow discard) when full.
  bool enqueue_transaction(std::unique_ptr<TransactionRecord> record);
  /// Counts a dropped item for the next client report.
  void discard(std::string_view reason, std::string_view category, std::uint64_t count = 1);
  bool flush(std::chrono::milliseconds timeout);
  void close(std::chrono::milliseconds timeout);
  Stats stats() const;

 private:
  enum class SendResult { kSent, kDropped, kFailed };
  struct Work {
    std::unique_ptr<Captured> captured;  // an event to assemble, or
    std::string raw;                     // an envelope from the cache directory
    std::string cache_file;
    std::string crash_file;  // a crash record of an earlier run
    std::unique_ptr<TransactionRecord> transaction;
  };

  void discard_locked(std::string_view reason, std::string_view category, std::uint64_t count = 1);
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

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // worker: work arrived or stopping
  std::condition_variable idle_;  // flush/close: queue drained or worker exited
  std::deque<Work> queue_;
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
