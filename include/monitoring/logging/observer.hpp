#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "monitoring/context.hpp"
#include "monitoring/logging/level.hpp"

namespace monitoring::logging {

/// One log record as the backend formatted it, after scrubbing: what a record observer
/// (the Sentry client: events for error and above, breadcrumbs for the rest) receives.
/// Every view points into backend buffers and is valid only during the callback.
struct RecordView {
  Level level = Level::kInfo;
  std::chrono::system_clock::time_point timestamp;  ///< microsecond resolution
  std::string_view timestamp_text;                  ///< "2025-01-31T12:00:00.123456Z"
  std::string_view logger;                          ///< logger name
  std::string_view message;                         ///< scrubbed, truncated like the output
  std::uint64_t thread_id = 0;                      ///< kernel thread id of the caller
  bool has_user = false;
  std::string_view user_id, user_name, request_id, trace_id, span_id;  ///< empty when unset
  std::string_view service_name, service_version, service_environment;
  /// Logger context, thread context and call-site fields merged in output order (call
  /// site wins on equal keys), scrubbed.
  std::span<const Field> fields;
  bool has_error = false;  ///< logged with exception()
  std::string_view error_type, error_message, error_stack_trace;
  /// The exception object was reported before this record (captured, or logged by an earlier
  /// record that claimed its event): the record is the application's log line, not a new error.
  bool error_already_reported = false;
  std::string_view json;  ///< the ECS JSON line, without the newline
  /// Kept below its logger's level for the backtrace (LOG_BACKTRACE) and written now, just
  /// before the error record of the same thread that it leads up to. Observers get it when
  /// they get that error, whatever their level.
  bool backtrace = false;
};

/// Called on the logging backend thread for every record at or above the observer's level.
/// It must be quick and must not block on logging; an exception it throws is swallowed.
using RecordObserver = std::function<void(const RecordView&)>;

/// Keeps one record observer subscribed; destroying or resetting it unsubscribes. Move-only,
/// so each subscription has exactly one owner and the observer's lifetime follows it.
class RecordSubscription {
 public:
  RecordSubscription() noexcept = default;
  RecordSubscription(RecordSubscription&& other) noexcept : id_(std::exchange(other.id_, 0)) {}
  RecordSubscription& operator=(RecordSubscription&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, 0);
    }
    return *this;
  }
  RecordSubscription(const RecordSubscription&) = delete;
  RecordSubscription& operator=(const RecordSubscription&) = delete;
  ~RecordSubscription() { reset(); }

  /// Unsubscribes. Once it returns the observer is never called again: from another thread
  /// it waits for a callback in progress to finish; from inside a callback (on the backend
  /// thread) it returns at once and only that running call completes.
  void reset() noexcept;
  /// True while subscribed.
  explicit operator bool() const noexcept { return id_ != 0; }

 private:
  friend RecordSubscription subscribe_records(RecordObserver, Level);
  explicit RecordSubscription(std::uint64_t id) noexcept : id_(id) {}
  std::uint64_t id_ = 0;
};

/// Subscribes `observer` to the records at or above `min_level`, independently of every
/// other subscriber (the Sentry client's included). Survives configure()/shutdown(). May be
/// called from inside a callback; the new observer then sees the records after the current one.
[[nodiscard]] RecordSubscription subscribe_records(RecordObserver observer,
                                                   Level min_level = Level::kInfo);

/// Where the calling thread's log queue ends: every record the thread logged so far lies
/// before it. Lets a later reader wait until the observers have seen those records (a Sentry
/// event then carries the breadcrumbs logged just before its capture). Cheap: reads
/// thread-local state only.
struct LogPosition {
  std::uint64_t queue = 0;  ///< the thread's queue (0 = it never logged, or logging is off)
  std::uint64_t end = 0;    ///< bytes ever written to it
  std::uint64_t ticks = 0;  ///< the record clock when taken
  explicit operator bool() const noexcept { return queue != 0; }
};
LogPosition current_log_position() noexcept;

/// Waits (at most `timeout`) until the backend has handed every record before `position` to
/// the observers. True when it has (also when that thread's queue is gone: it was drained).
/// False at the timeout or when logging is not running. `record_time`, when given, receives
/// the position's moment on the clock of RecordView::timestamp, to tell the records logged
/// before it from later ones.
bool wait_until_observed(const LogPosition& position, std::chrono::nanoseconds timeout,
                         std::chrono::system_clock::time_point* record_time = nullptr);

/// The same for the calling thread's records so far, from a fatal-signal handler: atomic
/// loads and nanosleep only. Does not wait on the backend thread itself or when logging is not
/// running (false). Meant for a crash report that should carry the thread's last records: the
/// records the thread kept for its backtrace (LOG_BACKTRACE) are written and observed too, as
/// the fatal-signal flush would write them.
bool wait_until_observed_in_signal_handler(std::int64_t timeout_ns) noexcept;

/// Tells exception() from which level on the observer turns records into error events
/// (std::nullopt: it does not), so that a record claims its exception object's one event at
/// the call, before a capture on another path could report the same object again.
void set_exception_event_level(std::optional<Level> level) noexcept;

}  // namespace monitoring::logging
