// The cross-wiring the catalog installs between the components: logged exceptions count in
// errors_total, the panel check's answers in panel_api_response_time{endpoint="health_check"},
// payment checks in payment_system_availability. No setup_monitoring needed.

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "monitoring/monitoring.hpp"
#include "support/local_http_peer.hpp"

namespace monitoring {
namespace {

using namespace std::chrono_literals;
using testing::CannedAnswer;
using testing::http_answer;
using testing::LocalHttpPeer;
using testing::RecordedRequest;

struct CardDeclined : std::runtime_error {
  using std::runtime_error::runtime_error;
};

health::CheckContext within(std::chrono::milliseconds timeout) {
  return health::CheckContext{std::chrono::steady_clock::now() + timeout};
}

LocalHttpPeer answering(int status) {
  return LocalHttpPeer([=](const RecordedRequest&) {
    return CannedAnswer{http_answer(status, "Whatever", "body", {})};
  });
}

metrics::Registry& registry() {
  return metrics::Registry::default_registry();
}

TEST(CatalogWiring, LoggedExceptionCountsInErrorsTotal) {
  metrics::register_catalog();
  auto& errors =
      registry()
          .counter("errors_total", "Errors by type and module.", {"error_type", "module"})
          .labels("monitoring::(anonymous namespace)::CardDeclined", "wiring.payments");
  const double before = errors.value();
  StructuredLogger logger("wiring.payments");
  try {
    throw CardDeclined("declined");
  } catch (...) {
    logger.exception("charge failed");
  }
  EXPECT_EQ(errors.value(), before + 1);
}

TEST(CatalogWiring, PanelCheckAnswersAreObservedAsPanelLatency) {
  metrics::register_catalog();
  auto& latency =
      registry()
          .histogram("panel_api_response_time", "Panel API response time in seconds.", {"endpoint"})
          .labels("health_check");
  const double before = latency.snapshot().count();
  auto ok = answering(200);
  auto broken = answering(503);
  health::panel_check(ok.url("/"))(within(2s));
  health::panel_check(broken.url("/"))(within(2s));
  EXPECT_EQ(latency.snapshot().count(), before + 2);
  health::panel_check("http://127.0.0.1:" +
                      std::to_string(testing::closed_loopback_port()))(within(2s));
  EXPECT_EQ(latency.snapshot().count(), before + 2);  // no answer, no latency
}

TEST(CatalogWiring, PaymentChecksSetTheAvailabilityGauge) {
  metrics::register_catalog();
  auto& availability = registry()
                           .gauge("payment_system_availability",
                                  "Payment system availability (1 up, 0 down).", {"payment_system"})
                           .labels("wiring_pay");
  auto up = answering(200);
  auto down = answering(502);
  health::payment_system_check("wiring_pay", up.url("/"))(within(2s));
  EXPECT_EQ(availability.value(), 1.0);
  health::payment_system_check("wiring_pay", down.url("/"))(within(2s));
  EXPECT_EQ(availability.value(), 0.0);
}

}  // namespace
}  // namespace monitoring
