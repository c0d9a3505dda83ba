#pragma once

// The offline cache: envelopes that could not be sent wait in the cache directory for the
// next start, next to the crash records the crash handler writes there. Only files: the
// client decides when to cache and counts what the directory's bound pushes out.

#include <cstddef>
#include <string>
#include <vector>

namespace monitoring::sentry::detail {

/// Where an envelope went, and how many older envelopes the bound removed to make room.
struct CachedEnvelope {
  std::string path;  ///< "" when it could not be written
  std::size_t evicted = 0;
};

/// Writes `envelope` into `dir` (created if needed) under a name that sorts by time, through
/// a temporary file so a crash never leaves half an envelope; then keeps the newest
/// `max_files` envelopes.
CachedEnvelope cache_envelope(const std::string& dir, const std::string& envelope,
                              std::size_t max_files);

/// One file found in the cache directory at start, oldest first.
struct CachedFile {
  std::string path;
  bool crash_record = false;  ///< a crash record of an earlier run (read by crash.cpp)
  bool session = false;       ///< a session file (session.hpp), maybe of a running process
  std::string envelope;       ///< an envelope's bytes (empty for a crash record)
};

/// The envelopes, crash records and session files in `dir`; removes torn writes and empty
/// envelopes.
std::vector<CachedFile> load_cache_dir(const std::string& dir);

/// Removes a cached file that has been dealt with; errors are ignored (it may be gone).
void remove_cached(const std::string& path) noexcept;

}  // namespace monitoring::sentry::detail
