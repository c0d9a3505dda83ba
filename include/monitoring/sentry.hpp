#pragma once

// Sentry: the client (init, capture_*, error_handler, scopes, breadcrumbs), tracing (spans,
// trace propagation) and the catalog timers that are also spans (sentry::track_time,
// sentry::timed).

#include "monitoring/catalog/tracing.hpp"
#include "monitoring/sentry/client.hpp"
#include "monitoring/sentry/tracing.hpp"
