// Built against the installed package (CMake config and pkg-config); exits non-zero when the
// installed library does not behave.
#include <cstdio>
#include <monitoring/monitoring.hpp>
#include <string>

int main() {
  using namespace monitoring;
  PrometheusMetrics::increment_payment_success("yookassa");
  CustomMetrics::set_conversion_rate("daily", 15.5);
  const std::string text = metrics::serialize(metrics::Registry::default_registry());
  const bool ok =
      text.find("payment_success_total{payment_system=\"yookassa\"} 1\n") != std::string::npos &&
      text.find("conversion_rate{period=\"daily\"} 15.5\n") != std::string::npos;
  std::printf("consumer: %s\n", ok ? "ok" : "FAILED");
  if (!ok) std::fputs(text.c_str(), stderr);
  return ok ? 0 : 1;
}
