#pragma once

// Throw sites and report marks of exception objects. throw_site.cpp replaces the C++
// runtime's __cxa_throw (and __cxa_allocate_exception) for the whole program: each throw
// records the raw return addresses of the throwing thread under the thrown object's address,
// so a trace can start where the exception was thrown instead of where it was caught. An
// std::exception_ptr refers to that same object, so the record follows the exception to
// another thread or out of a coroutine. The same record carries marks that let the reporters
// (errors_total, Sentry) see an exception object once however many handlers log it.
//
// Records live in a fixed table (no allocation on the throw path); a record is dropped when
// its object's memory is allocated for a new exception, or evicted (oldest first) when its
// set of the table is full. A lookup also checks the recorded type against the object's type.

#include <cstdint>
#include <exception>

namespace monitoring::stacktrace::detail {

/// Frames kept per throw (as many as a logged exception keeps).
inline constexpr std::uint32_t kMaxThrowFrames = 48;

/// Turns throw-site recording on or off for the process (off: a throw costs what it costs
/// without the hook, plus one table lookup when the object is allocated). Until called, the
/// MONITORING_THROW_TRACES environment variable decides at the first throw (default on).
void set_throw_traces(bool enabled) noexcept;
/// Whether throws are recorded now.
bool throw_traces_enabled() noexcept;
/// True when MONITORING_THROW_TRACES (or `text`) turns the feature off: "0", "false", "off",
/// "no" (any case). Anything else, including unset, means on.
bool throw_traces_off_by(const char* text) noexcept;

/// Copies the return addresses recorded when `error`'s object was thrown, the throwing
/// function first, into `frames`. Returns how many; 0 when no throw site is known (recording
/// off, an object made by std::make_exception_ptr, a record evicted or of another type).
std::uint32_t throw_site(const std::exception_ptr& error, void** frames,
                         std::uint32_t max) noexcept;

/// Ways an exception object gets reported; each happens once per object.
enum class Report : std::uint8_t {
  kCounted = 1,  ///< counted in errors_total
  kEvent = 2,    ///< sent (or claimed to be sent) to Sentry as an event
};
/// Marks `error`'s object as reported in `way`. True when this call set the mark (the caller
/// reports it), false when it was already set or `error` is empty.
bool claim_report(const std::exception_ptr& error, Report way) noexcept;
/// Whether `error`'s object carries the mark (no change).
bool is_reported(const std::exception_ptr& error, Report way) noexcept;

}  // namespace monitoring::stacktrace::detail
