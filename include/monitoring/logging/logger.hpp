#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "monitoring/context.hpp"
#include "monitoring/logging/level.hpp"
#include "monitoring/logging/static_fields.hpp"

namespace monitoring::logging {

namespace detail {
/// The part of a logger the inline level check reads; the rest lives in the library.
struct LoggerCore {
  /// The lowest level a call encodes: the logger's level, or DEBUG while the backtrace
  /// (LOG_BACKTRACE) keeps the records below it.
  std::atomic<Level> min_level{Level::kInfo};
  /// The logger's level: a record below it (and at or above min_level) is kept for the
  /// backtrace instead of written.
  std::atomic<Level> write_level{Level::kInfo};
};
struct ErrorCapture;
}  // namespace detail

class StructuredLogger;
namespace detail {
void write_unfiltered(StructuredLogger& logger, Level level, std::string_view message,
                      std::span<const Field> fields) noexcept;
}  // namespace detail

/// A named logger with typed fields and a persistent context, writing ECS JSON through the
/// asynchronous backend.
///
/// A call encodes the record (message, fields, thread context, timestamp) into the calling
/// thread's queue and returns: no formatting, no I/O, no lock, no allocation in steady
/// state. A record below the logger's level costs one relaxed load. Field strings are copied
/// during the call, so they only need to live until it returns.
///
/// ```
/// StructuredLogger logger("payment_service");
/// logger.add_context({{"service", "payment"}, {"version", "1.0.0"}});
/// auto scope = logger.with_request_id();
/// logger.info("Processing payment", {{"payment_id", 123}, {"amount", 1000}});
/// ```
///
/// Loggers are cheap to create and may be used from any number of threads. A logger must
/// not be destroyed while another thread is logging through it (as for any object).
class StructuredLogger {
 public:
  using Fields = std::initializer_list<Field>;

  /// `name` is `log.logger` and selects the per-module level (LOG_LEVELS).
  explicit StructuredLogger(std::string_view name);
  /// A copy has the same name and context; later add_context calls affect only one of them.
  StructuredLogger(const StructuredLogger& other);
  StructuredLogger& operator=(const StructuredLogger& other);
  StructuredLogger(StructuredLogger&& other) noexcept;
  StructuredLogger& operator=(StructuredLogger&& other) noexcept;
  ~StructuredLogger();

  const std::string& name() const noexcept;

  /// Adds fields to every later record of this logger (a later value replaces an earlier
  /// one with the same key). "service", "version" and "environment" become ECS
  /// service.name, service.version and service.environment. Meant for setup: each call
  /// keeps a small immutable copy alive until the logger is destroyed.
  void add_context(Fields fields) {
    add_context(std::span<const Field>(fields.begin(), fields.size()));
  }
  void add_context(std::span<const Field> fields);

  /// Scopes on the shared context (seen by every logger, Sentry and traces on this thread).
  [[nodiscard]] ContextScope with_user(std::int64_t user_id, std::string_view username = {}) const {
    return context::with_user(user_id, username);
  }
  [[nodiscard]] ContextScope with_user(std::string_view user_id,
                                       std::string_view username = {}) const {
    return context::with_user(user_id, username);
  }
  /// Empty id: a new UUIDv4.
  [[nodiscard]] ContextScope with_request_id(std::string_view request_id = {}) const {
    return context::with_request_id(request_id);
  }

  void debug(std::string_view message, Fields fields = {}) {
    log_if(Level::kDebug, message, fields);
  }
  void info(std::string_view message, Fields fields = {}) { log_if(Level::kInfo, message, fields); }
  void warning(std::string_view message, Fields fields = {}) {
    log_if(Level::kWarning, message, fields);
  }
  void error(std::string_view message, Fields fields = {}) {
    log_if(Level::kError, message, fields);
  }
  void critical(std::string_view message, Fields fields = {}) {
    log_if(Level::kCritical, message, fields);
  }

  /// Error level with the exception being handled (call it inside a catch block):
  /// error.type, error.message and error.stack_trace (the stack where the exception was
  /// thrown, else of this call; symbolized in the background). Outside a catch block it logs
  /// without the error.* fields. Each exception object also counts once in
  /// errors_total{error_type, module = this logger's name}, whatever the log level; a record
  /// of an object already reported (error_handler, capture_exception, an earlier record) is
  /// written but neither counted again nor sent to Sentry again.
  void exception(std::string_view message, Fields fields = {});
  /// The same for a stored exception (e.g. from a future or a coroutine).
  void exception(std::string_view message, const std::exception_ptr& error, Fields fields = {});

  /// Any level, fields from a container.
  void log(Level level, std::string_view message, std::span<const Field> fields = {}) {
    if (is_enabled(level)) write(level, message, fields.data(), fields.size(), nullptr);
  }

  /// Static call sites (static_fields.hpp): the message and the keys are template arguments,
  /// so only the values are queued. The record written is the same as the regular call's.
  /// ```
  /// logger.info<"Processing payment">(field<"payment_id">(id), field<"amount">(1000));
  /// ```
  template <Literal Message, class... Fields>
  void debug(const Fields&... fields) {
    log<Message>(Level::kDebug, fields...);
  }
  template <Literal Message, class... Fields>
  void info(const Fields&... fields) {
    log<Message>(Level::kInfo, fields...);
  }
  template <Literal Message, class... Fields>
  void warning(const Fields&... fields) {
    log<Message>(Level::kWarning, fields...);
  }
  template <Literal Message, class... Fields>
  void error(const Fields&... fields) {
    log<Message>(Level::kError, fields...);
  }
  template <Literal Message, class... Fields>
  void critical(const Fields&... fields) {
    log<Message>(Level::kCritical, fields...);
  }
  template <Literal Message, class... Fields>
  void log(Level level, const Fields&... fields) {
    static_assert((detail::kIsStaticField<Fields> && ...),
                  "a static log call takes its fields as field<\"key\">(value)");
    static_assert(sizeof...(Fields) <= 64, "a record has at most 64 fields");
    if (!is_enabled(level)) return;
    const FieldValue values[sizeof...(Fields) + 1] = {FieldValue(fields.value)..., FieldValue()};
    // Only a C string can change type at run time (a null pointer is the null value): such a
    // call is a regular one. Known at compile time for every other value.
    if (((FieldValue(fields.value).type() != Fields::type) || ...)) [[unlikely]] {
      const Field regular[sizeof...(Fields) + 1] = {Field{Fields::key, FieldValue(fields.value)}...,
                                                    Field{}};
      write(level, Message.view(), regular, sizeof...(Fields), nullptr);
      return;
    }
    // The caller passes what the library would otherwise read from the site: the producer
    // then touches nothing of it (after a sleep, each line read is a possible miss).
    write_static(level, detail::StaticSiteOf<Message, Fields...>::site, Message.view().size(),
                 sizeof...(Fields), values);
  }

  /// True when a record at `level` is written, or kept in the thread's backtrace
  /// (LoggingOptions::backtrace): the caller should build it.
  bool is_enabled(Level level) const noexcept {
    return level >= core_->min_level.load(std::memory_order_relaxed) && level < Level::kOff;
  }
  /// The effective threshold (global level or the module's): records below it are not
  /// written (with a backtrace they are kept until an error on their thread writes them).
  Level level() const noexcept { return core_->write_level.load(std::memory_order_relaxed); }

 private:
  friend void detail::write_unfiltered(StructuredLogger&, Level, std::string_view,
                                       std::span<const Field>) noexcept;
  void log_if(Level level, std::string_view message, Fields fields) {
    if (is_enabled(level)) write(level, message, fields.begin(), fields.size(), nullptr);
  }
  /// `unfiltered`: written whatever the logger's level (never kept for a backtrace).
  void write(Level level, std::string_view message, const Field* fields, std::size_t count,
             const detail::ErrorCapture* error, bool unfiltered = false) noexcept;
  void write_static(Level level, const detail::StaticSite& site, std::size_t message_size,
                    std::uint32_t count, const FieldValue* values) noexcept;
  void log_exception(std::string_view message, const std::exception_ptr& error, Fields fields,
                     const void* caller) noexcept;

  detail::LoggerCore* core_;  // never null; a moved-from logger points to a disabled core
};

}  // namespace monitoring::logging
