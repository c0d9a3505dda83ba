#pragma once

// The Sentry client: our own implementation of Sentry's envelope
// protocol over libcurl. The caller only copies data and raw stack addresses into a bounded
// queue; symbolization, scope merging, scrubbing, before_send, serialization, gzip and HTTP
// all happen on one background thread.
//
// ```
// sentry::init({.dsn = "https://key@o1.ingest.sentry.io/42", .environment = "production"});
// try { pay(); } catch (...) { sentry::capture_exception(); }
// auto safe_pay = sentry::error_handler({{"module", "payment"}}, pay);  // capture + log + rethrow
// sentry::close();
// ```

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "monitoring/core/awaitable.hpp"
#include "monitoring/error.hpp"
#include "monitoring/logging/level.hpp"
#include "monitoring/sentry/tracing.hpp"

namespace monitoring::sentry {

/// A malformed DSN or option. `what()` names the value with the DSN's key redacted.
class SentryError : public Error {
 public:
  using Error::Error;
};

/// A malformed DSN (from Dsn::parse and init). `what()` is
///
///     invalid Sentry DSN '<dsn>': <problem>
///         (expected https://<public key>@<host>[:port][/path]/<project id>)
///
/// on one line, where <dsn> has its key (everything up to the last '@') replaced by
/// "[Filtered]", or is "[Filtered]" altogether when there is no '@' to tell the key apart.
class DsnError : public SentryError {
 public:
  DsnError(std::string redacted_dsn, std::string problem);
  /// The value as it may be shown (key redacted).
  const std::string& redacted_dsn() const noexcept { return redacted_dsn_; }
  /// What is wrong with it, e.g. "the project id 'abc' is not a number".
  const std::string& problem() const noexcept { return problem_; }

 private:
  std::string redacted_dsn_;
  std::string problem_;
};

/// A parsed DSN: `{scheme}://{public_key}[:{secret}]@{host}[:{port}]/{path/}{project_id}`.
/// Kept apart from the rest so the public key never ends up in a message by accident.
struct Dsn {
  std::string scheme{};       ///< "http" or "https"
  std::string public_key{};   ///< sentry_key of X-Sentry-Auth; a secret for logs and errors
  std::string host{};         ///< as written (IPv6 literals keep their brackets)
  std::uint16_t port = 0;     ///< 0 = the scheme's default
  std::string path_prefix{};  ///< "" or "/some/prefix" (Sentry behind a path), no trailing '/'
  std::string project_id{};   ///< digits

  /// Throws DsnError naming the (redacted) value and what is wrong with it: empty, spaces or
  /// control characters, no or another scheme than http(s), no key, a bad key character, no
  /// or a bad host, a bad port, a query or fragment, no or a non-numeric project id.
  static Dsn parse(std::string_view dsn);

  /// `{scheme}://{host}[:{port}]{path_prefix}/api/{project_id}/envelope/`.
  std::string envelope_url() const;
  /// The DSN with its key replaced by "[Filtered]", for messages.
  std::string redacted() const;
};

/// Sentry's event levels.
enum class Level : std::uint8_t { kDebug, kInfo, kWarning, kError, kFatal };
/// "debug", "info", "warning", "error", "fatal".
std::string_view level_name(Level level) noexcept;
/// The Sentry level of a log level (critical -> fatal).
Level from_log_level(logging::Level level) noexcept;

/// Ordered key/value pairs (tags, extra, context members, breadcrumb data).
using Tags = std::vector<std::pair<std::string, std::string>>;

/// Who was affected. Empty members are left out of the event.
struct User {
  std::string id{};
  std::string username{};
  std::string email{};
  std::string ip_address{};

  bool empty() const noexcept {
    return id.empty() && username.empty() && email.empty() && ip_address.empty();
  }
};

/// Something that happened before an event (a log line, an HTTP call, a user action).
struct Breadcrumb {
  std::chrono::system_clock::time_point timestamp = std::chrono::system_clock::now();
  std::string type = "default";
  std::string category{};
  std::string message{};
  Level level = Level::kInfo;
  Tags data{};
};

/// One resolved stack frame, as Sentry shows it.
struct Frame {
  std::uintptr_t instruction_addr = 0;
  std::string function{};  ///< demangled; empty when unknown
  std::string filename{};  ///< source file when debug info has it
  int lineno = 0;
  std::string package{};  ///< the binary or shared object
  bool in_app = false;    ///< not libc, libstdc++, the runtime or this client
};

/// One exception of a chain.
struct ExceptionValue {
  std::string type{};           ///< demangled type name, "std::runtime_error"
  std::string value{};          ///< what()
  std::vector<Frame> frames{};  ///< oldest call first (Sentry's order)
};

/// An event as before_send sees it: everything merged (scope, context, options), before
/// scrubbing and serialization. before_send may change any member.
struct Event {
  std::string event_id{};  ///< 32 lowercase hex digits
  std::chrono::system_clock::time_point timestamp{};
  Level level = Level::kError;
  std::string logger{};
  std::string message{};
  std::vector<ExceptionValue> exceptions{};  ///< innermost (original cause) first
  bool handled = true;
  std::string mechanism = "generic";
  Tags tags{};
  Tags extra{};
  User user{};
  std::vector<std::pair<std::string, Tags>> contexts{};  ///< besides os, runtime and trace
  std::vector<std::string> fingerprint{};
  std::vector<Breadcrumb> breadcrumbs{};
  std::string environment{};
  std::string release{};
  std::string server_name{};
  std::string trace_id{};  ///< from the shared context (context::with_trace)
  std::string span_id{};
};

/// Called on the background thread for every event that passed sampling. Return false to
/// drop the event (counted as a client report "before_send").
using BeforeSend = std::function<bool(Event&)>;

/// Client options. `init` validates them.
struct Options {
  std::string dsn{};  ///< required
  std::string environment = "production";
  /// Names the build events belong to and the release health of sessions is counted for;
  /// init rejects a name Sentry would (see release_problem).
  std::string release{};
  std::string server_name{};  ///< default: the host name
  double sample_rate = 1.0;   ///< share of error events sent, 0..1
  double traces_sample_rate = 0.0;
  BeforeSend before_send{};
  std::size_t max_breadcrumbs = 100;
  std::size_t queue_size = 100;  ///< events waiting for the background thread; more are dropped
  /// Unsent envelopes are kept here and sent on the next start ("" = no cache).
  std::string cache_dir{};
  std::size_t max_cache_files = 30;  ///< oldest dropped beyond it
  /// With a cache directory: SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE and std::terminate
  /// leave a crash record there (chaining to earlier handlers); the next start sends it as a
  /// fatal event with the raw frames symbolized, the latest breadcrumbs and the global scope's
  /// user, tags, extra, contexts and fingerprint as the crashed process had them.
  ///
  /// Stack overflows need an alternate signal stack on the overflowing thread. The thread that
  /// calls init and every thread that uses the client afterwards (capture_*, add_breadcrumb,
  /// the scope setters, ThreadScope, start_transaction) get one the first time (128 KiB of
  /// address space, released when the thread exits) unless they have one already. A thread
  /// that never touches the client runs the handler on its own stack: its faults are recorded,
  /// its stack overflow is not.
  bool crash_handler = true;
  /// Records of the logger become breadcrumbs at `breadcrumb_level` and above, events at
  /// `event_level` and above (unless already captured, e.g. by error_handler).
  bool capture_logs = true;
  logging::Level breadcrumb_level = logging::Level::kInfo;
  logging::Level event_level = logging::Level::kError;
  bool gzip = true;
  std::chrono::milliseconds http_timeout{5000};
  unsigned max_retries = 3;                      ///< per envelope, on 5xx and network errors
  std::chrono::milliseconds retry_backoff{500};  ///< doubled per attempt, capped at 30 s
  std::chrono::milliseconds shutdown_timeout{2000};
  /// Release health (application mode, like sentry-native): each run from init to close is one
  /// session, so Sentry shows the crash-free rate per release. Needs `release` (without one
  /// there are no sessions). The first update says `init`; each error event carries the error
  /// count (Sentry shows the session errored); close ends it `exited`. With a cache directory
  /// the open session is kept there: a crash record marks it `crashed` and the next start
  /// sends that with the crash event; a run that ended without close or crash record (SIGKILL,
  /// OOM) is sent `abnormal` by the next start.
  bool auto_session_tracking = true;
};

/// Why Sentry would reject `release` as a release name (at most 200 characters, no '/', '\\'
/// or control characters, not blank, "." or ".."), or "" when it is a valid one.
std::string release_problem(std::string_view release);

/// Starts the client (replacing a running one, which is closed first). Throws DsnError for a
/// malformed DSN, SentryError for another bad option; nothing is started (or stopped) then.
void init(Options options);
/// True between init and close.
bool is_enabled() noexcept;
/// Waits until every queued event was sent (or given up), at most `timeout`. True when done.
bool flush(std::chrono::milliseconds timeout);
/// Flushes within `timeout` (default: the option), stops the background thread; what is still
/// unsent goes to the cache directory (as many as it holds; the rest is counted as dropped,
/// unbuilt). Idempotent. The process's exit calls it for a client still running.
void close(std::optional<std::chrono::milliseconds> timeout = std::nullopt);

/// Captures `error` (default: the exception being handled) with its nested exceptions, each
/// with the stack where it was thrown (the caller's stack when that is unknown). Returns the
/// event id, or "" when disabled, sampled out or dropped, or when the same exception object
/// was reported before (an earlier capture_exception, error_handler or logged record): one
/// exception object gives one event however many handlers see it.
/// The caller takes no lock: the client and the global scope come from per-thread caches
/// (refreshed after init/close or a scope change), breadcrumbs from a lock-free log, and the
/// queue to the background thread is lock-free.
std::string capture_exception(std::exception_ptr error = std::current_exception(),
                              const Tags& tags = {});
/// Captures a message event. Returns the event id, or "" when not sent.
std::string capture_message(std::string_view message, Level level = Level::kInfo,
                            const Tags& tags = {});

/// Adds to the breadcrumb log (lock-free; events carry the latest max_breadcrumbs). A
/// breadcrumb is kept as at most 4 KiB of text: a longer message is shortened and data
/// entries that do not fit are left out.
void add_breadcrumb(Breadcrumb breadcrumb);

// Global scope: applies to every later event of every thread.
void set_user(User user);
/// Sets (or, with an empty value, removes) a tag. Keys: 1..32 characters, no spaces.
void set_tag(std::string_view key, std::string_view value);
void set_extra(std::string_view key, std::string_view value);
/// A named context ("payment": {"system": "yookassa"}); an empty `values` removes it.
void set_context(std::string_view name, Tags values);
/// Overrides grouping; empty = Sentry's default grouping.
void set_fingerprint(std::vector<std::string> fingerprint);

/// A per-thread scope layered over the global one for its lifetime (RAII, nests): what is
/// set through it applies only to events captured on this thread while it lives. Inside a
/// coroutine started with `monitoring::spawn` it belongs to that task instead, wherever the task
/// resumes. Ending on another thread or outside its task, it restores nothing there.
class [[nodiscard]] ThreadScope {
 public:
  ThreadScope();
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

  ThreadScope& set_user(User user);
  ThreadScope& set_tag(std::string_view key, std::string_view value);
  ThreadScope& set_extra(std::string_view key, std::string_view value);
  ThreadScope& set_context(std::string_view name, Tags values);
  ThreadScope& set_fingerprint(std::vector<std::string> fingerprint);

 private:
  std::shared_ptr<const void> previous_;
  const void* owner_;  // the thread or task it was opened in: it restores only there
};

/// Counters of the running client since init (for tests and the library's own metrics).
struct Stats {
  std::uint64_t captured = 0;      ///< accepted into the queue
  std::uint64_t sent = 0;          ///< envelopes the server accepted
  std::uint64_t dropped = 0;       ///< events dropped for any reason (see client reports)
  std::uint64_t retries = 0;       ///< re-sends after 5xx or network errors
  std::uint64_t rate_limited = 0;  ///< envelopes not sent because of a rate limit
  std::uint64_t cached = 0;        ///< envelopes written to the cache directory
  std::uint64_t loaded_from_cache = 0;
};
Stats stats();

namespace detail {
/// error_handler's work for one failure: capture with the tags, errors_total{error_type,
/// module}++, logger.exception (marked as already captured), without rethrowing.
void handle_error(const Tags& tags, const std::exception_ptr& error);
}  // namespace detail

/// Decorator: returns a callable with `fn`'s signature. When a call throws, the
/// exception is captured with `tags`, logged through logger.exception (with the catalog
/// linked, that log call counts it in errors_total{error_type, module}; a "module" tag names
/// the logger), and rethrown.
/// Callables returning boost::asio::awaitable<T> are handled when the coroutine fails.
template <class Fn>
auto error_handler(Tags tags, Fn fn) {
  auto shared_tags = std::make_shared<const Tags>(std::move(tags));
  return [shared_tags, fn = std::move(fn)](auto&&... args) mutable -> decltype(auto) {
    using Result = std::invoke_result_t<Fn&, decltype(args)...>;
    if constexpr (core::is_awaitable_v<Result>) {
      // Arguments are copied into the coroutine frame: the awaitable may outlive the caller's.
      return [](std::shared_ptr<const Tags> t, Fn& f,
                std::decay_t<decltype(args)>... copies) -> Result {
        std::exception_ptr failure;
        try {
          co_return co_await f(std::move(copies)...);
        } catch (...) {
          failure = std::current_exception();
        }
        detail::handle_error(*t, failure);
        std::rethrow_exception(failure);
      }(shared_tags, fn, std::forward<decltype(args)>(args)...);
    } else {
      try {
        return fn(std::forward<decltype(args)>(args)...);
      } catch (...) {
        detail::handle_error(*shared_tags, std::current_exception());
        throw;
      }
    }
  };
}

}  // namespace monitoring::sentry
