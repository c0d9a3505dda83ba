// The log record observer: turns records of the logging backend into Sentry events and
// breadcrumbs. It runs on the backend thread, so an event from a record carries the record's
// user, request id and trace rather than the backend thread's own context.

#include "sentry/log_capture.hpp"

#include <algorithm>
#include <mutex>
#include <string>
#include <utility>

#include "monitoring/logging/observer.hpp"
#include "sentry/capture.hpp"
#include "sentry/client.hpp"

namespace monitoring::sentry::detail {
namespace {

/// Log records -> breadcrumbs and events (installed by init when capture_logs is on).
void observe_record(const std::weak_ptr<Client>& weak, const logging::RecordView& record) {
  auto client = weak.lock();
  if (!client) return;
  const Options& options = client->options();
  Tags data;
  // A record of an exception reported before (by capture_exception, error_handler or an
  // earlier record) is the application's log line, not a second event.
  bool already_captured = record.error_already_reported;
  for (const Field& field : record.fields) {
    if (field.key == "sentry.event_id") {
      already_captured = true;
      continue;
    }
    data.emplace_back(std::string(field.key), field_text(field.value));
  }
  // A backtrace record leads up to the error that follows it: a breadcrumb of that event,
  // whatever its level.
  if (record.level >= options.event_level && !record.backtrace) {
    if (already_captured) return;
    if (from_log_level(record.level) >= Level::kError) client->note_error();
    if (!sampled(options.sample_rate)) {
      client->discard_sampled_out();
      return;
    }
    auto captured = start_capture(from_log_level(record.level), {});
    captured->context = ContextSnapshot();  // the backend thread's own context is not the caller's
    captured->thread_scope = nullptr;
    Event& event = captured->event;
    event.timestamp = record.timestamp;
    event.logger = std::string(record.logger);
    event.message = std::string(record.message);
    event.extra = std::move(data);
    if (record.has_user) {
      event.user.id = std::string(record.user_id);
      event.user.username = std::string(record.user_name);
    }
    if (!record.request_id.empty())
      event.tags.emplace_back("request_id", std::string(record.request_id));
    event.trace_id = std::string(record.trace_id);
    event.span_id = std::string(record.span_id);
    event.mechanism = "logging";
    if (record.has_error) {
      captured->chain.push_back(
          {std::string(record.error_type), true, std::string(record.error_message)});
      captured->stack_text = std::string(record.error_stack_trace);
    }
    client->enqueue(std::move(captured));
    return;
  }
  if (record.level >= options.breadcrumb_level || record.backtrace) {
    Breadcrumb crumb;
    crumb.timestamp = record.timestamp;
    crumb.type = record.level >= logging::Level::kError ? "error" : "default";
    crumb.category = record.logger.empty() ? std::string("log") : std::string(record.logger);
    crumb.message = std::string(record.message);
    crumb.level = from_log_level(record.level);
    crumb.data = std::move(data);
    add_breadcrumb(std::move(crumb));
  }
}

// Sentry's own subscription: the application's observers are not affected by init/close.
logging::RecordSubscription g_subscription;
std::mutex g_subscription_mutex;

}  // namespace

void install_log_capture(const std::shared_ptr<Client>& client) {
  const Options& options = client->options();
  std::weak_ptr<Client> weak = client;
  auto subscription = logging::subscribe_records(
      [weak](const logging::RecordView& record) { observe_record(weak, record); },
      std::min(options.breadcrumb_level, options.event_level));
  logging::RecordSubscription previous;
  std::lock_guard lock(g_subscription_mutex);
  previous = std::exchange(g_subscription, std::move(subscription));
  logging::set_exception_event_level(options.event_level);
}

void uninstall_log_capture() {
  logging::set_exception_event_level(std::nullopt);
  logging::RecordSubscription previous;
  {
    std::lock_guard lock(g_subscription_mutex);
    previous = std::move(g_subscription);
  }
  // Unsubscribed here, outside the lock (it waits for a callback in progress).
}

}  // namespace monitoring::sentry::detail
