#pragma once

// Crash capture (fatal signals, std::terminate) into the cache directory, and reading such
// a record back on the next start.

#include <memory>
#include <string>

#include "sentry/event.hpp"

namespace monitoring::sentry::detail {

/// Installs the handlers (once per process; later calls only update the directory and the
/// module map). The calling thread gets an alternate signal stack.
void install_crash_handlers(const std::string& cache_dir);
/// Gives the calling thread an alternate signal stack (released at thread exit) while our
/// handlers are installed, unless it has one. Called by every entry point of the client; after
/// the first call of a thread it is a thread-local flag test.
void ensure_thread_alt_stack() noexcept;
/// Takes objects loaded (or unloaded) since the handlers were installed into what a crash
/// record lists, so frames in a plugin opened later resolve too. Cheap when nothing changed.
/// Background thread.
void refresh_crash_module_map();
/// Restores the handlers that were installed before ours.
void uninstall_crash_handlers();
/// A crash record as an event ready for assembly, or null when the file is not one. Its
/// global_scope is the crashed process's when the record has it (else null).
std::unique_ptr<Captured> read_crash_record(const std::string& path);

}  // namespace monitoring::sentry::detail
