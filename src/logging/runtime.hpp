#pragma once

// State shared between the log call (logger.cpp) and the backend (backend.cpp): the run
// state, the per-thread queues, the knobs the hot path reads, and the slow paths.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "backtrace.hpp"
#include "hot_state.hpp"
#include "monitoring/logging/options.hpp"
#include "record.hpp"
#include "ring.hpp"

namespace monitoring::logging::detail {

/// One producer thread's queue. The producer owns the ring's producer side (with the context
/// last sent through it); the backend owns the consumer side and `context`.
struct ProducerQueue {
  ProducerQueue(std::size_t capacity, std::byte* memory, std::uint64_t thread_id,
                std::uint64_t serial)
      : ring(capacity, memory), thread_id(thread_id), serial(serial) {}

  SpscRing ring;
  const std::uint64_t thread_id;  // kernel tid, for process.thread.id
  std::uint64_t serial;  // set once when registered, never reused: names it in a LogPosition
  std::atomic<bool> abandoned{false};  // the thread exited; free once drained
  /// Producer: the serial of the context last sent through the ring.
  std::uint64_t& last_context_serial() noexcept { return ring.producer_word(); }

  std::shared_ptr<const monitoring::detail::ContextData> context;  // backend: current context
  std::unique_ptr<BacktraceStore> backtrace;  // backend: kept records (LOG_BACKTRACE), lazily
};

// The calling thread's queue (nullptr until its first record). constinit: no TLS wrapper;
// initial-exec: no __tls_get_addr call in -fPIC code (see tls_context).
[[gnu::tls_model("initial-exec")]] extern thread_local constinit ProducerQueue* tls_queue;
// True on the backend thread: its own records must never block on its own queue.
[[gnu::tls_model("initial-exec")]] extern thread_local constinit bool tls_is_backend;

/// Slow path of the first log call: starts logging (from the environment) unless it was
/// shut down. True when logging is running.
bool ensure_running() noexcept;
/// Slow path of a thread's first record: creates and registers its queue.
ProducerQueue* attach_current_thread() noexcept;
/// Slow path when the queue is full: waits (block policy) or gives up (drop policy, the
/// backend thread, logging stopped). nullptr = the record is dropped.
std::byte* reserve_slow(ProducerQueue& queue, std::uint32_t size) noexcept;

enum class DropReason : std::uint8_t { kQueueFull, kShutdown, kWriteError };
void count_dropped(DropReason reason, std::uint64_t records = 1) noexcept;
void count_write_error() noexcept;
/// Records a write error lost after the backend counted them as written: they move from
/// records_written to records_dropped (reason write_error).
void count_write_lost(std::uint64_t records) noexcept;

/// Hands a logger's states to the backend, which frees them once no queued record can point
/// to them (immediately when logging is not running).
void retire_logger_states(const LoggerState* newest) noexcept;

/// Applies the global and per-module levels to every live logger and future ones; with
/// `backtrace`, records below them are encoded too, flagged kFlagKept.
void apply_levels(Level level, const ModuleLevels& modules, bool backtrace);

/// Locks/unlocks the logger registry around fork() (see backend.cpp).
void lock_logger_registry() noexcept;
void unlock_logger_registry() noexcept;

/// The kernel thread id of the caller.
std::uint64_t current_thread_id() noexcept;

}  // namespace monitoring::logging::detail
