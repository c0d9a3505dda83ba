// Sentry in a few lines: init from SENTRY_DSN, scope, breadcrumbs, a captured exception and
// the error_handler decorator. Without SENTRY_DSN it explains itself and exits.
//
//   SENTRY_DSN=https://<key>@o1.ingest.sentry.io/<project> ./example_sentry

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "monitoring/monitoring.hpp"

namespace sentry = monitoring::sentry;

int main() {
  const char* dsn = std::getenv("SENTRY_DSN");
  if (dsn == nullptr || *dsn == '\0') {
    std::puts("set SENTRY_DSN to send the example's events to Sentry");
    return 0;
  }
  try {
    sentry::init({.dsn = dsn,
                  .environment = "example",
                  .release = "example@1.0",
                  .traces_sample_rate = 1.0});
  } catch (const sentry::SentryError& error) {
    std::fprintf(stderr, "%s\n", error.what());  // the DSN's key is redacted in the message
    return 1;
  }
  sentry::set_tag("service", "example");
  sentry::add_breadcrumb({.category = "startup", .message = "example started"});
  {
    auto user = monitoring::context::with_user(42, "alice");
    try {
      throw std::runtime_error("something went wrong");
    } catch (...) {
      std::printf("captured %s\n", sentry::capture_exception().c_str());
    }
  }
  auto pay = sentry::error_handler({{"module", "payment"}}, [](int amount) {
    if (amount <= 0) throw std::invalid_argument("amount must be positive");
    return amount;
  });
  try {
    pay(-1);
  } catch (const std::exception& error) {
    std::printf("rethrown: %s\n", error.what());
  }
  {
    // A transaction with a timed child span (also observed in payment_processing_duration).
    auto transaction = sentry::start_transaction("renew_subscription", "task");
    auto timed = sentry::track_time("payment", {{"payment_system", "yookassa"}});
    std::printf("trace %s, propagate with sentry-trace: %s\n", transaction.trace_id().c_str(),
                transaction.sentry_trace().c_str());
  }
  std::printf("flushed: %s\n", sentry::flush(std::chrono::seconds(5)) ? "yes" : "no");
  sentry::close();
}
