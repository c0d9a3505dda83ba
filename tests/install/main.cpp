// Built against the installed package (CMake config and pkg-config); exits non-zero when the
// installed library does not behave.
#include <cstdio>
#include <monitoring/monitoring.hpp>
#include <mutex>
#include <string>
#include <vector>

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

  // The installed logging headers: a regular and a static call site give the same fields.
  logging::LoggingOptions options;
  options.console = logging::ConsoleTarget::kNone;
  logging::configure(options);
  std::mutex mutex;
  std::vector<std::string> seen;
  auto subscription = logging::subscribe_records(
      [&](const logging::RecordView& record) {
        std::string line(record.message);
        for (const Field& field : record.fields)
          line += " " + std::string(field.key) + "=" + std::to_string(field.value.as_int());
        std::lock_guard lock(mutex);
        seen.push_back(line);
      },
      logging::Level::kInfo);
  StructuredLogger logger("consumer");
  logger.info("paid", {{"payment_id", 7}});
  logger.info<"paid">(logging::field<"payment_id">(7));
  logging::flush();
  subscription.reset();
  const bool logged = seen.size() == 2 && seen[0] == "paid payment_id=7" && seen[1] == seen[0];
  std::printf("consumer logging: %s\n", logged ? "ok" : "FAILED");
  if (!logged)
    for (const std::string& line : seen) std::fprintf(stderr, "  %s\n", line.c_str());
  return ok && logged ? 0 : 1;
}
