#pragma once

// Release health in application mode: one session per run of a client (init to close), as
// Sentry's crash-free rate per release counts them. The worker thread owns the live session
// and sends its updates through the same transport as events; callers only bump an atomic
// error counter. While it runs, the session is also a locked file in the cache directory, so
// the next start can tell how an earlier run ended: its crash record names the session
// (crashed), or the file was left behind unlocked without one (abnormal: SIGKILL, OOM).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "monitoring/scrub.hpp"

namespace monitoring::sentry::detail {

/// One session as an update reports it.
struct Session {
  std::string sid;  ///< UUID
  std::string did;  ///< the user id when one is known ("" = left out)
  std::chrono::system_clock::time_point started{};
  std::chrono::system_clock::time_point timestamp{};  ///< when this update was made
  bool with_duration = true;                          ///< false when the end is unknown (abnormal)
  std::string status = "ok";                          ///< ok, exited, crashed or abnormal
  std::uint64_t errors = 0;
  bool init = false;  ///< the first update Sentry gets of this session
  std::string release;
  std::string environment;
};

/// The `session` envelope item payload; `did` and the environment pass the scrubber as event
/// text does (a user id may be whatever the application put there).
std::string session_json(const Session& session, const Scrubber& scrubber);

/// Errors of the live session, counted where events are captured (after the one-event-per-
/// failure dedupe, before sampling: sampling must not change the crash-free rate). Global so
/// the crash handler can read it without reaching the client.
[[gnu::visibility("hidden")]] extern std::atomic<std::uint64_t> g_session_errors;

/// A session's file in the cache directory, locked (flock) by the process it belongs to; the
/// lock goes with the process however it ends. Closes (unlocking) on destruction.
class SessionFile {
 public:
  SessionFile() = default;
  ~SessionFile();
  SessionFile(const SessionFile&) = delete;
  SessionFile& operator=(const SessionFile&) = delete;

  /// Creates `<dir>/<sid>.session` for a starting session and locks it. Null when the
  /// directory cannot hold it (the session then runs without persistence).
  static std::unique_ptr<SessionFile> create(const std::string& dir, const Session& session,
                                             bool init_sent);
  /// The session of an earlier run when its file is not locked any more (its process is
  /// gone): the caller now holds the lock. Null while its process lives, or when it is not a
  /// session file.
  static std::unique_ptr<SessionFile> claim(const std::string& path);

  /// Records the state of the session (errors, did, whether its init update went out).
  void update(const Session& session, bool init_sent);
  /// Removes the file: the session's end was handed to the transport.
  void remove();

  const Session& session() const noexcept { return session_; }
  bool init_sent() const noexcept { return init_sent_; }

 private:
  std::string path_;
  int fd_ = -1;
  Session session_;
  bool init_sent_ = false;
};

}  // namespace monitoring::sentry::detail
