// The metrics-only consumer: a registry, a counter, a histogram and the text exposition,
// built against the installed package with monitoring::metrics alone. Exits non-zero when
// the exposition is not what the calls produced.

#include <cstdio>
#include <monitoring/metrics/exposition.hpp>
#include <monitoring/metrics/registry.hpp>
#include <string>

int main() {
  monitoring::metrics::Registry registry;
  auto& jobs = registry.counter("jobs_total", "Jobs processed.", {"queue"});
  jobs.labels("email").inc(3);
  registry.histogram("job_seconds", "Job duration.", {}, {0.1, 1}).labels().observe(0.5);
  const std::string text = monitoring::metrics::serialize(registry);
  const bool ok = text.find("jobs_total{queue=\"email\"} 3\n") != std::string::npos &&
                  text.find("job_seconds_bucket{le=\"1\"} 1\n") != std::string::npos &&
                  text.find("job_seconds_count 1\n") != std::string::npos;
  std::fputs(text.c_str(), stdout);
  if (!ok) std::fputs("metrics_only: unexpected exposition\n", stderr);
  return ok ? 0 : 1;
}
