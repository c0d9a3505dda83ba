#pragma once

// Umbrella header: the whole public API of the monitoring library.

#include "monitoring/context.hpp"
#include "monitoring/health.hpp"
#include "monitoring/logging.hpp"
#include "monitoring/metrics.hpp"
#include "monitoring/monitor.hpp"
#include "monitoring/monitor/default_checks.hpp"
#include "monitoring/scrub.hpp"
#include "monitoring/sentry.hpp"
