// The default checks for a MonitoringConfig, under the check names dashboards and alerts use.

#include "monitoring/monitor/default_checks.hpp"

#include "monitoring/catalog/catalog.hpp"
#include "monitoring/health/checks.hpp"
#include "monitoring/monitor.hpp"

namespace monitoring {

using health::CheckerOptions;
using health::CheckFunction;
using health::CheckOptions;
using health::DefaultChecksOptions;
using health::HealthChecker;
using health::ReadinessChecker;

namespace {

CheckOptions background(std::chrono::milliseconds interval, std::chrono::milliseconds timeout,
                        bool critical) {
  CheckOptions options;
  options.timeout = timeout;
  options.critical = critical;
  options.interval = interval;
  return options;
}

}  // namespace

HealthChecker default_health_checker(const MonitoringConfig& config, CheckerOptions options,
                                     DefaultChecksOptions timing) {
  // The panel and payment checks feed catalog metrics; registering the catalog also wires
  // those checks to it.
  metrics::register_catalog();
  // Build every check first: a malformed setting throws before any thread starts.
  std::vector<std::pair<std::string, std::pair<CheckFunction, CheckOptions>>> checks;
  const auto local = [&](bool critical) {
    return background(timing.dependency_interval, timing.timeout, critical);
  };
  const auto external = background(timing.external_interval, timing.timeout, false);
  if (!config.database_url.empty())
    checks.push_back({"database", {health::postgres_check(config.database_url), local(true)}});
  if (!config.redis_url.empty())
    checks.push_back({"redis", {health::redis_check(config.redis_url), local(true)}});
  if (!config.telegram_token.empty())
    checks.push_back(
        {"telegram",
         {health::telegram_check(config.telegram_token, config.telegram_api_url), external}});
  if (!config.panel_url.empty())
    checks.push_back({"panel", {health::panel_check(config.panel_url), external}});
  for (const auto& [name, url] : config.payment_systems)
    if (!url.empty())
      checks.push_back({"payment:" + name, {health::payment_system_check(name, url), external}});

  HealthChecker checker(options);
  for (auto& [name, check] : checks) checker.add_check(name, std::move(check.first), check.second);
  return checker;
}

ReadinessChecker default_readiness_checker(const MonitoringConfig& config, CheckerOptions options,
                                           DefaultChecksOptions timing) {
  std::vector<std::pair<std::string, CheckFunction>> checks;
  if (!config.database_url.empty()) {
    // An application without schema migrations clears migrations_table to drop the check.
    if (!config.migrations_table.empty())
      checks.emplace_back("migrations",
                          health::migrations_check(config.database_url, config.migrations_table,
                                                   config.migrations_expected_version));
    checks.emplace_back("connections", health::postgres_check(config.database_url));
  }
  if (!config.redis_url.empty())
    checks.emplace_back("cache", health::redis_check(config.redis_url));

  ReadinessChecker checker(options);
  for (auto& [name, check] : checks)
    checker.add_check(name, std::move(check),
                      background(timing.dependency_interval, timing.timeout, true));
  return checker;
}

}  // namespace monitoring
