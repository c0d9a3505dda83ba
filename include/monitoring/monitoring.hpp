#pragma once

// Umbrella header: the whole public API of the monitoring library.

#include "monitoring/metrics.hpp"
#include "monitoring/monitor.hpp"
