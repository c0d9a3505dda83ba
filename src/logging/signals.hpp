#pragma once

// Signal handling for logging: SIGHUP asks for a reopen of the log file; fatal signals
// (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT) get a best-effort flush before the previous
// handler runs (or the default action, by re-raising). Handlers only touch lock-free
// atomics; the backend thread does the actual work.

#include <atomic>
#include <cstdint>

namespace monitoring::logging::detail {

extern constinit std::atomic<bool> g_sighup_pending;
extern constinit std::atomic<bool> g_sighup_enabled;
extern constinit std::atomic<bool> g_fatal_flush_enabled;
// A crashing thread bumps the request and waits (bounded) until the backend has written
// and fsynced everything and published the same number in g_crash_done.
extern constinit std::atomic<std::uint64_t> g_crash_request;
extern constinit std::atomic<std::uint64_t> g_crash_done;
// The crashing thread's queue (nullptr: it never logged), set before the request: the
// backend writes that thread's backtrace (LOG_BACKTRACE) as it would before an error.
struct ProducerQueue;
extern constinit std::atomic<ProducerQueue*> g_crash_queue;
extern constinit std::atomic<std::uint64_t> g_backend_tid;

/// Installs the handlers (each at most once per process; they chain to what was installed
/// before). Whether they act is decided by the flags above, set by every configure().
void install_signal_handlers(bool sighup, bool fatal);

}  // namespace monitoring::logging::detail
