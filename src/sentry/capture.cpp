// The capture API on the caller's thread: capture_exception, capture_message,
// add_breadcrumb and handle_error (the catch-all of the coroutine and handler wrappers).

#include "sentry/capture.hpp"

#include <cxxabi.h>

#include <exception>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "monitoring/logging/logger.hpp"
#include "monitoring/logging/observer.hpp"
#include "sentry/client.hpp"
#include "sentry/crash.hpp"
#include "stacktrace/stack_trace.hpp"
#include "stacktrace/throw_site.hpp"

namespace monitoring::sentry {
namespace detail {
namespace {

constexpr std::uint32_t kMaxFrames = 64;
constexpr int kMaxChain = 16;

/// The throw site of `error`'s object, when the throw hook recorded one.
std::vector<void*> thrown_at(const std::exception_ptr& error) {
  void* frames[stacktrace::detail::kMaxThrowFrames];
  const std::uint32_t count =
      stacktrace::detail::throw_site(error, frames, stacktrace::detail::kMaxThrowFrames);
  return std::vector<void*>(frames, frames + count);
}

void collect_chain(std::exception_ptr error, std::vector<RawException>& chain) {
  for (int depth = 0; error && depth < kMaxChain; ++depth) {
    std::exception_ptr next;
    const std::size_t element = chain.size();
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      const std::type_info* type = abi::__cxa_current_exception_type();
      chain.push_back({type ? type->name() : "std::exception", false, e.what()});
      try {
        std::rethrow_if_nested(e);
      } catch (...) {
        next = std::current_exception();
      }
    } catch (...) {
      const std::type_info* type = abi::__cxa_current_exception_type();
      chain.push_back({type ? type->name() : "unknown", false, ""});
    }
    if (chain.size() > element) chain[element].thrown_at = thrown_at(error);
    error = next;
  }
}

}  // namespace
}  // namespace detail

// The caller-side path takes no lock: the client and the global scope come from this
// thread's cache, breadcrumbs from the lock-free log, the queue is lock-free.
std::string capture_exception(std::exception_ptr error, const Tags& tags) {
  detail::ensure_thread_alt_stack();
  auto client = detail::active_client();
  if (!client || !error) return {};
  // One event per exception object, whichever handler, log record or rethrow sees it first;
  // the sampling decision counts as its report too.
  if (!stacktrace::detail::claim_report(error, stacktrace::detail::Report::kEvent)) return {};
  client->note_error();
  if (!detail::sampled(client->options().sample_rate)) {
    client->discard_sampled_out();
    return {};
  }
  auto captured = detail::start_capture(Level::kError, tags);
  captured->log_position = logging::current_log_position();
  detail::collect_chain(std::move(error), captured->chain);
  if (captured->chain.empty() || captured->chain.front().thrown_at.empty()) {
    void* frames[detail::kMaxFrames];
    const std::uint32_t count = logging::detail::capture_stack(frames, detail::kMaxFrames);
    captured->frames.assign(frames, frames + count);
  }
  std::string id = captured->event.event_id;
  return client->enqueue(std::move(captured)) ? id : std::string();
}

std::string capture_message(std::string_view message, Level level, const Tags& tags) {
  detail::ensure_thread_alt_stack();
  auto client = detail::active_client();
  if (!client) return {};
  if (level >= Level::kError) client->note_error();
  if (!detail::sampled(client->options().sample_rate)) {
    client->discard_sampled_out();
    return {};
  }
  auto captured = detail::start_capture(level, tags);
  captured->log_position = logging::current_log_position();
  captured->event.message = std::string(message);
  std::string id = captured->event.event_id;
  return client->enqueue(std::move(captured)) ? id : std::string();
}

void add_breadcrumb(Breadcrumb breadcrumb) {
  detail::ensure_thread_alt_stack();
  detail::breadcrumb_log().add(breadcrumb);
}

namespace detail {

void handle_error(const Tags& tags, const std::exception_ptr& error) {
  std::string module = "unknown";
  for (const auto& [key, value] : tags)
    if (key == "module" && !value.empty()) module = value;
  std::string event_id;
  try {
    event_id = capture_exception(error, tags);
  } catch (...) {  // capturing must never replace the application's exception
  }
  // logger.exception counts errors_total{error_type, module} (the logger is named `module`).
  logging::StructuredLogger logger(module);
  const std::string message = "Unhandled error in " + module;
  if (event_id.empty())
    logger.exception(message, error, {{"module", module}});
  else
    logger.exception(message, error, {{"module", module}, {"sentry.event_id", event_id}});
}

}  // namespace detail
}  // namespace monitoring::sentry
