#include "signals.hpp"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "runtime.hpp"

namespace monitoring::logging::detail {

constinit std::atomic<bool> g_sighup_pending{false};
constinit std::atomic<bool> g_sighup_enabled{false};
constinit std::atomic<bool> g_fatal_flush_enabled{false};
constinit std::atomic<std::uint64_t> g_crash_request{0};
constinit std::atomic<std::uint64_t> g_crash_done{0};
constinit std::atomic<ProducerQueue*> g_crash_queue{nullptr};
constinit std::atomic<std::uint64_t> g_backend_tid{0};

namespace {

constexpr int kFatalSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
constexpr auto kFlushWait = 2'000'000'000LL;  // ns a crashing thread waits for the flush

// Written before the handler is installed, read only by the handler.
struct sigaction g_previous[NSIG];

std::int64_t monotonic_ns() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

// Calls the handler that was installed before ours. Returns false when that was the
// default action (or "ignore"), which the caller then has to carry out.
bool chain(int signal_number, siginfo_t* info, void* context) {
  const struct sigaction& previous = g_previous[signal_number];
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction == nullptr) return false;
    previous.sa_sigaction(signal_number, info, context);
    return true;
  }
  if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) return false;
  previous.sa_handler(signal_number);
  return true;
}

void on_sighup(int signal_number, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  if (g_sighup_enabled.load(std::memory_order_relaxed))
    g_sighup_pending.store(true, std::memory_order_release);
  chain(signal_number, info, context);
  errno = saved_errno;
}

void on_fatal_signal(int signal_number, siginfo_t* info, void* context) {
  static std::atomic<bool> entered{false};
  // Only the first crash waits for a flush, and never on the backend thread itself (it
  // cannot flush while it is the one crashing).
  if (!entered.exchange(true) && g_fatal_flush_enabled.load(std::memory_order_relaxed) &&
      g_run_state.load(std::memory_order_acquire) == RunState::kRunning &&
      current_thread_id() != g_backend_tid.load(std::memory_order_relaxed)) {
    g_crash_queue.store(tls_queue, std::memory_order_relaxed);  // published by the fetch_add
    const std::uint64_t ticket = g_crash_request.fetch_add(1, std::memory_order_acq_rel) + 1;
    const std::int64_t deadline = monotonic_ns() + kFlushWait;
    while (g_crash_done.load(std::memory_order_acquire) < ticket && monotonic_ns() < deadline) {
      const timespec pause{0, 1'000'000};
      nanosleep(&pause, nullptr);
    }
  }
  if (chain(signal_number, info, context)) return;
  // Default action: restore it and re-raise. The signal is blocked while we run, so it is
  // delivered as soon as the handler returns (a re-executed fault would raise it anyway).
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  sigaction(signal_number, &default_action, nullptr);
  raise(signal_number);
}

void install(int signal_number, void (*handler)(int, siginfo_t*, void*), int flags) {
  struct sigaction action {};
  action.sa_sigaction = handler;
  action.sa_flags = SA_SIGINFO | flags;
  sigemptyset(&action.sa_mask);
  sigaction(signal_number, nullptr, &g_previous[signal_number]);
  sigaction(signal_number, &action, nullptr);
}

}  // namespace

void install_signal_handlers(bool sighup, bool fatal) {
  static std::once_flag sighup_once;
  static std::once_flag fatal_once;
  // SA_RESTART: a SIGHUP must not make the application's blocking calls fail with EINTR.
  if (sighup) std::call_once(sighup_once, [] { install(SIGHUP, on_sighup, SA_RESTART); });
  // SA_ONSTACK: runs on an alternate stack when the application set one (stack overflow).
  if (fatal)
    std::call_once(fatal_once, [] {
      for (const int signal_number : kFatalSignals)
        install(signal_number, on_fatal_signal, SA_ONSTACK);
    });
}

}  // namespace monitoring::logging::detail
