#pragma once

// Breadcrumbs and events from log records: the record observer that init installs on the
// logging backend when Options::capture_logs is on.

#include <memory>

#include "monitoring/sentry/client.hpp"

namespace monitoring::sentry::detail {

class Client;

/// Observes log records for `client` from now on: records at or above its event_level become
/// events (unless a record already carries the event id of its capture), those at or above
/// breadcrumb_level breadcrumbs. The observer holds the client weakly.
void install_log_capture(const std::shared_ptr<Client>& client);
/// Stops observing log records.
void uninstall_log_capture();

}  // namespace monitoring::sentry::detail
