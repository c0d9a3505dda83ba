#pragma once

// The caller's side of a capture: sampling, and the copy of everything an event needs from
// the calling thread (ids, time, scope snapshots, shared context, breadcrumbs) made before the
// event goes into the intake. Inline: capture_exception and capture_message (capture.cpp)
// run this on every call; the log observer (log_capture.cpp) and tracing use it too.

#include <chrono>
#include <memory>
#include <random>
#include <utility>

#include "monitoring/context.hpp"
#include "monitoring/sentry/client.hpp"
#include "sentry/event.hpp"
#include "sentry/ids.hpp"
#include "sentry/scope.hpp"
#include "sentry/signal_safe.hpp"

namespace monitoring::sentry::detail {

/// True with probability `rate` (thread-local generator, no lock).
inline bool sampled(double rate) {
  if (rate >= 1.0) return true;
  if (rate <= 0.0) return false;
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine) < rate;
}

/// The latest breadcrumbs. A thread keeps its last snapshot and hands it out again while no
/// breadcrumb was added since (a burst of errors copies the log once).
inline std::shared_ptr<const BreadcrumbSnapshot> breadcrumbs_now() {
  thread_local std::shared_ptr<const BreadcrumbSnapshot> last;
  const BreadcrumbLog& log = breadcrumb_log();
  if (last && last->complete && last->head == log.head() && last->limit == log.limit()) return last;
  auto fresh = std::make_shared<BreadcrumbSnapshot>();
  log.snapshot(*fresh);
  last = std::move(fresh);
  return last;
}

/// The caller-side part common to every captured event.
inline std::unique_ptr<Captured> start_capture(Level level, const Tags& tags) {
  auto captured = std::make_unique<Captured>();
  captured->event.event_id = new_event_id();
  captured->event.timestamp = std::chrono::system_clock::now();
  captured->event.level = level;
  captured->event.tags = tags;
  captured->global_scope = load_global_scope();
  captured->thread_scope = t_thread_scope;
  captured->context = context::current();
  captured->breadcrumbs = breadcrumbs_now();
  return captured;
}

}  // namespace monitoring::sentry::detail
