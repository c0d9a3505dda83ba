#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

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
};

/// Called on the logging backend thread for every record at or above the observer's level.
/// It must be quick and must not block on logging; an exception it throws is swallowed.
using RecordObserver = std::function<void(const RecordView&)>;

/// Installs (or, with an empty function, removes) the record observer. After the call
/// returns the previous observer is never called again. Survives configure()/shutdown().
void set_record_observer(RecordObserver observer, Level min_level = Level::kInfo);

/// Tells exception() from which level on the observer turns records into error events
/// (std::nullopt: it does not), so that a record claims its exception object's one event at
/// the call, before a capture on another path could report the same object again.
void set_exception_event_level(std::optional<Level> level) noexcept;

}  // namespace monitoring::logging
