#pragma once

#include <stdexcept>
#include <string>

namespace monitoring {

/// Base of every exception the library throws. `what()` names the offending value, with
/// secrets redacted, so the message can go straight into a log or a startup error.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A configuration value is missing or malformed (a field of MonitoringConfig or an
/// environment variable; the message names which).
class ConfigError : public Error {
 public:
  using Error::Error;
};

namespace metrics {

/// Invalid use of the metrics API: a bad metric or label name, a wrong number of label
/// values, a negative counter increment, a non-finite value, conflicting registrations.
class MetricError : public Error {
 public:
  using Error::Error;
};

}  // namespace metrics
}  // namespace monitoring
