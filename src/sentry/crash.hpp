#pragma once

// Crash capture (fatal signals, std::terminate) into the cache directory, and reading such
// a record back on the next start.

#include <memory>
#include <string>

#include "sentry/internal.hpp"

namespace monitoring::sentry::detail {

/// Installs the handlers (once per process; later calls only update the directory and the
/// module map). The alternate signal stack is set for the calling thread.
void install_crash_handlers(const std::string& cache_dir);
/// Restores the handlers that were installed before ours.
void uninstall_crash_handlers();
/// A crash record as an event ready for assembly, or null when the file is not one.
std::unique_ptr<Captured> read_crash_record(const std::string& path);

}  // namespace monitoring::sentry::detail
