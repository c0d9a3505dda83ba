#pragma once

// Crash capture (fatal signals, std::terminate) into the cache directory, and reading such
// a record back on the next start.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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
/// The live session a crash record names, so the record marks it crashed ("" = none, e.g.
/// sessions off). Async-signal-safe to read; set by the worker when a session starts and ends.
void set_crash_session(std::string_view sid) noexcept;
/// Stops marking `sid` (ended): unless a newer client set its own session meanwhile.
void clear_crash_session(std::string_view sid) noexcept;

/// The session a crash record ended (sid "" when it names none), with its errors until the
/// crash and the crash time.
struct CrashedSession {
  std::string sid;
  std::uint64_t errors = 0;
  std::chrono::system_clock::time_point time{};
};
CrashedSession crash_record_session(const std::string& path);

/// A crash record as an event ready for assembly, or null when the file is not one. Its
/// global_scope is the crashed process's when the record has it (else null).
std::unique_ptr<Captured> read_crash_record(const std::string& path);

}  // namespace monitoring::sentry::detail
