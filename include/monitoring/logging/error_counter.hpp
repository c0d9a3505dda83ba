#pragma once

// How logged exceptions are counted. The logging component keeps no metric of its own for
// them: the application layer (the 2GETPRO catalog, errors_total{error_type, module})
// installs a counter, so logging stays independent of any metric catalog.

#include <string_view>

namespace monitoring::logging {

/// Called once per exception object logged with logger.exception() (the first record of it;
/// later records of the same object, e.g. the caller's after error_handler's, are not counted
/// again) with the exception's demangled type ("std::runtime_error", "unknown" without one)
/// and the logger's name. Must not throw.
using ErrorCounter = void (*)(std::string_view error_type, std::string_view module) noexcept;

/// Installs `counter` (nullptr removes it) for every logger in the process.
void set_error_counter(ErrorCounter counter) noexcept;

}  // namespace monitoring::logging
