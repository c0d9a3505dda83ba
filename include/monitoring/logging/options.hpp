#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "monitoring/logging/level.hpp"
#include "monitoring/scrub.hpp"

namespace monitoring::logging {

/// The largest LoggingOptions::backtrace (records kept per thread).
inline constexpr std::size_t kMaxBacktrace = 100000;

/// Where console output goes.
enum class ConsoleTarget : std::uint8_t { kNone, kStdout, kStderr };
/// ANSI colors on the console (text format only). kAuto: when the stream is a terminal and
/// NO_COLOR is not set.
enum class ColorMode : std::uint8_t { kAuto, kAlways, kNever };
/// What a log call does when its thread's queue is full.
enum class OverflowPolicy : std::uint8_t {
  kBlock,  ///< wait for the backend (no record is lost; the default)
  kDrop,   ///< drop the record and count it in
           ///< monitoring_log_records_dropped_total{reason="queue_full"}
};

/// Everything the logging backend can be told. The fields map one-to-one to
/// MonitoringConfig (log_level, log_levels, log_dir, use_json_logs, log_max_bytes,
/// log_backup_count) and to the LOG_* environment variables (see from_env()).
struct LoggingOptions {
  Level level = Level::kInfo;    ///< LOG_LEVEL: threshold for every logger...
  ModuleLevels module_levels{};  ///< LOG_LEVELS: ...except these (exact name or dotted prefix)

  /// LOG_DIR: directory of the JSON log file; empty = no file. Created if missing; an
  /// unwritable directory makes configure() throw ConfigError naming it (as LOG_DIR when the
  /// value is the one that variable holds, as log_dir otherwise).
  std::string log_dir{};
  std::string file_name = "app.log";  ///< the file inside log_dir (always ECS JSON lines)

  /// USE_JSON_LOGS: console format. true = the same ECS JSON lines as the file (containers);
  /// false = readable, colored text.
  bool json = true;
  ConsoleTarget console = ConsoleTarget::kStderr;
  ColorMode colors = ColorMode::kAuto;

  std::uint64_t max_bytes = 10u << 20;  ///< LOG_MAX_BYTES: rotate past this size; 0 = never
  unsigned backup_count = 5;            ///< LOG_BACKUP_COUNT: app.log.1 .. app.log.N kept
  bool daily_rotation = false;          ///< also rotate when the UTC date changes
  bool compress_backups = false;        ///< gzip backups in the background (app.log.1.gz ...)

  /// LOG_BACKTRACE: each thread keeps its last `backtrace` records below its loggers' levels
  /// (DEBUG while the level is INFO, say) in memory, unformatted; its next record at ERROR or
  /// above (an error, critical or exception() record) writes them first, oldest first, marked
  /// "log.backtrace": true, and record observers (Sentry: breadcrumbs of that error's event)
  /// see them too. 0 = off. At most 100000. A kept call costs what a written one does on the
  /// calling thread; the backend only copies it.
  std::size_t backtrace = 0;

  /// Bytes of each producer thread's queue (rounded up to a power of two, at least 64 KiB).
  /// Applies to threads that log for the first time after configure().
  std::size_t queue_capacity = 1u << 20;
  OverflowPolicy overflow = OverflowPolicy::kBlock;
  /// Strings (message and field values) longer than this are cut on a character boundary
  /// and end with "...[truncated, N bytes]". At least 64.
  std::size_t max_field_bytes = 16u << 10;

  /// ECS service.* fields. A logger's context fields "service", "version" and
  /// "environment" (add_context) override these for that logger.
  std::string service_name{};
  std::string service_version{};
  std::string service_environment{};

  bool scrub = true;  ///< pass every record through the scrubber (Scrubber::shared())
  /// When set, configure() makes these the process-wide Scrubber::shared() options (which
  /// Sentry and health output use too); when empty, the current shared scrubber stays.
  std::optional<ScrubOptions> scrub_options{};

  bool reopen_on_sighup = true;       ///< SIGHUP reopens the log file (logrotate "postrotate")
  bool flush_on_fatal_signal = true;  ///< SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGABRT flush, then chain
  /// How often the file is checked for having been moved or removed (logrotate "create"), or
  /// its directory moved: until the check notices, records go on into the moved file (none is
  /// lost); then a new file is opened at the path, the directory created again if needed. A
  /// deleted file is noticed before every write.
  std::chrono::milliseconds reopen_check_interval{1000};

  /// Reads LOG_LEVEL, LOG_LEVELS, LOG_DIR, USE_JSON_LOGS, LOG_MAX_BYTES (bytes, or with a
  /// K/M/G suffix), LOG_BACKUP_COUNT and LOG_BACKTRACE over the defaults. A bad value throws
  /// ConfigError naming the variable.
  static LoggingOptions from_env();
};

/// Starts (or restarts with new options) the logging backend. Logging also starts by itself
/// on the first log call, with LoggingOptions::from_env(). Throws ConfigError for an
/// unusable log_dir or option; the previous configuration then stays in effect.
void configure(const LoggingOptions& options);

/// Writes every queued record to its outputs and stops the backend (no fsync: what was
/// written survives the process; the fatal-signal path does fdatasync).
/// Idempotent. Records logged afterwards are dropped and counted
/// (monitoring_log_records_dropped_total{reason="shutdown"}) until configure() is called
/// again. Also runs at exit.
void shutdown() noexcept;

/// Blocks until every record logged (by any thread) before the call has been written.
/// Returns immediately when logging is not running.
void flush();

/// Reopens the log file (what SIGHUP does), then returns once it happened.
void reopen();

/// True between configure() (or the first log call) and shutdown().
bool is_running() noexcept;

/// Counters since process start (also exported as metrics).
struct LoggingStats {
  /// Records written to the log file (to the console when there is no file). A record a
  /// write error lost counts as dropped instead, so written + dropped == records logged.
  std::uint64_t records_written = 0;
  std::uint64_t records_dropped = 0;  ///< queue full (drop policy), after shutdown, write errors
  std::uint64_t write_errors = 0;     ///< failed write() calls on log outputs
  /// Producers waiting for queue space right now (block policy, queue full).
  std::uint64_t producers_blocked = 0;
  std::uint64_t producer_waits = 0;  ///< times a producer had to wait for queue space
};
LoggingStats stats() noexcept;

}  // namespace monitoring::logging
