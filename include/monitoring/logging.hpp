#pragma once

// Structured logging: StructuredLogger (typed fields, context, scopes), the asynchronous
// backend (configure / shutdown / flush), ECS JSON files with rotation, the console, the
// record observer for the Sentry client, and the shared context and scrubber it uses.

#include "monitoring/context.hpp"
#include "monitoring/error.hpp"
#include "monitoring/logging/level.hpp"
#include "monitoring/logging/levels.hpp"
#include "monitoring/logging/logger.hpp"
#include "monitoring/logging/observer.hpp"
#include "monitoring/logging/options.hpp"
#include "monitoring/scrub.hpp"

namespace monitoring {
using logging::StructuredLogger;
}  // namespace monitoring
