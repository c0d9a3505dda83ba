#include "monitoring/catalog/catalog.hpp"

#include <array>
#include <charconv>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "catalog/figures.hpp"
#include "monitoring/error.hpp"
#include "monitoring/health/checks.hpp"
#include "monitoring/logging/error_counter.hpp"
#include "monitoring/logging/logger.hpp"
#include "monitoring/metrics/registry.hpp"

namespace monitoring::metrics {

namespace {

// Payments take from a fraction of a second to a minute (3-D Secure, crypto confirmations).
std::vector<double> payment_buckets() {
  return {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

struct Catalog {
  explicit Catalog(Registry& r)
      : http_requests(r.counter("http_requests_total", "Total HTTP requests.",
                                {"method", "endpoint", "status"})),
        bot_messages(r.counter("bot_messages_total", "Messages and updates handled by the bot.",
                               {"message_type"})),
        errors(r.counter("errors_total", "Errors by type and module.", {"error_type", "module"})),
        payment_requests(r.counter("payment_requests_total",
                                   "Payment requests sent to payment systems.",
                                   {"payment_system"})),
        payment_success(
            r.counter("payment_success_total", "Successful payments.", {"payment_system"})),
        subscription_created(
            r.counter("subscription_created_total", "Subscriptions created.", {"plan"})),
        referral_revenue(
            r.counter("referral_revenue_total", "Revenue from referrals.", {"currency"})),
        http_duration(r.histogram("http_request_duration_seconds",
                                  "HTTP request duration in seconds.", {"method", "endpoint"})),
        bot_handler_duration(r.histogram("bot_handler_duration_seconds",
                                         "Bot handler duration in seconds.", {"handler"})),
        payment_duration(r.histogram("payment_processing_duration_seconds",
                                     "Payment processing duration in seconds.", {"payment_system"},
                                     payment_buckets())),
        panel_api_time(r.histogram("panel_api_response_time", "Panel API response time in seconds.",
                                   {"endpoint"})),
        active_users(r.gauge("active_users", "Currently active users.").labels()),
        active_subscriptions(
            r.gauge("active_subscriptions", "Currently active subscriptions.").labels()),
        database_connections(
            r.gauge("database_connections", "Open database connections.").labels()),
        conversion_rate(r.gauge("conversion_rate", "Conversion rate in percent.", {"period"})),
        churn_rate(r.gauge("churn_rate", "Churn rate in percent.", {"period"})),
        average_ltv(r.gauge("average_ltv", "Average customer lifetime value.", {"currency"})),
        payment_availability(r.gauge("payment_system_availability",
                                     "Payment system availability (1 up, 0 down).",
                                     {"payment_system"})),
        build_info(r.info("monitoring_build",
                          "The monitoring library's version, compiler and build type.")) {
    build_info.set({{"version", MONITORING_BUILD_VERSION},
                    {"compiler", MONITORING_BUILD_COMPILER},
                    {"build_type", MONITORING_BUILD_TYPE}});
  }

  Family<Counter>& http_requests;
  Family<Counter>& bot_messages;
  Family<Counter>& errors;
  Family<Counter>& payment_requests;
  Family<Counter>& payment_success;
  Family<Counter>& subscription_created;
  Family<Counter>& referral_revenue;
  Family<Histogram>& http_duration;
  Family<Histogram>& bot_handler_duration;
  Family<Histogram>& payment_duration;
  Family<Histogram>& panel_api_time;
  Gauge& active_users;
  Gauge& active_subscriptions;
  Gauge& database_connections;
  Family<Gauge>& conversion_rate;
  Family<Gauge>& churn_rate;
  Family<Gauge>& average_ltv;
  Family<Gauge>& payment_availability;
  Info& build_info;
};

void install_catalog_hooks() noexcept;

Catalog& catalog() {
  static Catalog* instance = [] {
    install_catalog_hooks();
    return new Catalog(Registry::default_registry());
  }();
  return *instance;
}

struct TimerKind {
  std::string_view name;
  Family<Histogram>& (*family)(Catalog&);
};

const std::array<TimerKind, 4> kTimerKinds = {{
    {"http", [](Catalog& c) -> Family<Histogram>& { return c.http_duration; }},
    {"bot_handler", [](Catalog& c) -> Family<Histogram>& { return c.bot_handler_duration; }},
    {"payment", [](Catalog& c) -> Family<Histogram>& { return c.payment_duration; }},
    {"panel_api", [](Catalog& c) -> Family<Histogram>& { return c.panel_api_time; }},
}};

}  // namespace

namespace detail {

CatalogFigures read_catalog_figures() {
  Catalog& c = catalog();
  CatalogFigures figures;
  c.bot_messages.for_each([&](const Counter& series) { figures.bot_messages += series.value(); });
  c.errors.for_each([&](const Counter& series) { figures.errors += series.value(); });
  c.bot_handler_duration.for_each([&](const Histogram& series) {
    const Histogram::Snapshot snapshot = series.snapshot();
    if (figures.handler_bounds.empty()) {
      figures.handler_bounds.assign(series.bounds().begin(), series.bounds().end());
      figures.handler_counts.assign(snapshot.cumulative_counts.size(), 0.0);
    }
    double below = 0;
    for (std::size_t i = 0; i < snapshot.cumulative_counts.size(); ++i) {
      figures.handler_counts[i] += snapshot.cumulative_counts[i] - below;
      below = snapshot.cumulative_counts[i];
    }
  });
  c.payment_requests.for_each([&](const Counter& series) {
    figures.payments[std::string(series.label_value(0))].first += series.value();
  });
  c.payment_success.for_each([&](const Counter& series) {
    figures.payments[std::string(series.label_value(0))].second += series.value();
  });
  return figures;
}

Histogram& timer_series(std::string_view kind, const Labels& labels) {
  const TimerKind* found = nullptr;
  for (const auto& k : kTimerKinds)
    if (k.name == kind) found = &k;
  if (found == nullptr)
    throw MetricError("unknown timer kind '" + std::string(kind) +
                      "'; expected one of: http, bot_handler, payment, panel_api");
  Family<Histogram>& family = found->family(catalog());
  const auto& names = family.label_names();
  std::vector<std::string_view> values(names.size());
  std::vector<bool> present(names.size(), false);
  for (const auto& [name, value] : labels) {
    std::size_t i = 0;
    while (i < names.size() && names[i] != name) ++i;
    if (i == names.size())
      throw MetricError("timer kind '" + std::string(kind) + "' has no label '" + name +
                        "' (metric " + family.name() + ")");
    if (present[i])
      throw MetricError("timer kind '" + std::string(kind) + "' got label '" + name + "' twice");
    values[i] = value;
    present[i] = true;
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!present[i])
      throw MetricError("timer kind '" + std::string(kind) + "' needs label '" + names[i] +
                        "' (metric " + family.name() + ")");
  }
  return family.labels(std::span<const std::string_view>(values));
}

}  // namespace detail

void register_catalog() {
  (void)catalog();
}

void PrometheusMetrics::increment_http_requests(std::string_view method, std::string_view endpoint,
                                                int status) {
  char buffer[16];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, status);
  increment_http_requests(method, endpoint,
                          std::string_view(buffer, static_cast<std::size_t>(result.ptr - buffer)));
}

void PrometheusMetrics::increment_http_requests(std::string_view method, std::string_view endpoint,
                                                std::string_view status) {
  catalog().http_requests.labels(method, endpoint, status).inc();
}

void PrometheusMetrics::increment_bot_messages(std::string_view message_type) {
  catalog().bot_messages.labels(message_type).inc();
}

void PrometheusMetrics::increment_errors(std::string_view error_type, std::string_view module) {
  catalog().errors.labels(error_type, module).inc();
}

void PrometheusMetrics::increment_payment_requests(std::string_view payment_system) {
  catalog().payment_requests.labels(payment_system).inc();
}

void PrometheusMetrics::increment_payment_success(std::string_view payment_system) {
  catalog().payment_success.labels(payment_system).inc();
}

void PrometheusMetrics::increment_subscription_created(std::string_view plan) {
  catalog().subscription_created.labels(plan).inc();
}

void PrometheusMetrics::observe_http_request_duration(std::string_view method,
                                                      std::string_view endpoint, double seconds) {
  catalog().http_duration.labels(method, endpoint).observe(seconds);
}

void PrometheusMetrics::observe_bot_handler_duration(std::string_view handler, double seconds) {
  catalog().bot_handler_duration.labels(handler).observe(seconds);
}

void PrometheusMetrics::observe_payment_processing_duration(std::string_view payment_system,
                                                            double seconds) {
  catalog().payment_duration.labels(payment_system).observe(seconds);
}

void PrometheusMetrics::set_active_users(double value) {
  catalog().active_users.set(value);
}
void PrometheusMetrics::set_active_subscriptions(double value) {
  catalog().active_subscriptions.set(value);
}
void PrometheusMetrics::set_database_connections(double value) {
  catalog().database_connections.set(value);
}

void CustomMetrics::set_conversion_rate(std::string_view period, double percent) {
  catalog().conversion_rate.labels(period).set(percent);
}

void CustomMetrics::set_churn_rate(std::string_view period, double percent) {
  catalog().churn_rate.labels(period).set(percent);
}

void CustomMetrics::set_average_ltv(std::string_view currency, double value) {
  catalog().average_ltv.labels(currency).set(value);
}

namespace {

/// The providers a payment:<name> health check writes the availability of (checks per name),
/// and those whose refused setter call was already reported. Never destroyed: checks held in
/// static objects end during exit. The setter writes under the mutex, so once a check is
/// registered no earlier setter call can land after the check's reading.
struct CheckedPaymentSystems {
  std::mutex mutex;
  std::map<std::string, int, std::less<>> checks;
  std::set<std::string, std::less<>> warned;
};

CheckedPaymentSystems& checked_payment_systems() {
  static auto* instance = new CheckedPaymentSystems();
  return *instance;
}

void write_payment_availability(std::string_view payment_system, bool available) {
  catalog().payment_availability.labels(payment_system).set(available ? 1.0 : 0.0);
}

}  // namespace

bool CustomMetrics::payment_system_has_health_check(std::string_view payment_system) {
  CheckedPaymentSystems& checked = checked_payment_systems();
  std::lock_guard lock(checked.mutex);
  return checked.checks.find(payment_system) != checked.checks.end();
}

void CustomMetrics::set_payment_system_availability(std::string_view payment_system,
                                                    bool available) {
  CheckedPaymentSystems& checked = checked_payment_systems();
  bool first_refusal = false;
  {
    std::lock_guard lock(checked.mutex);
    if (checked.checks.find(payment_system) == checked.checks.end()) {
      write_payment_availability(payment_system, available);
      return;
    }
    first_refusal = checked.warned.emplace(payment_system).second;
  }
  // Two writers made the gauge and /health disagree; the check sees the real provider.
  if (first_refusal)
    logging::StructuredLogger("monitoring")
        .warning(
            "set_payment_system_availability ignored: the payment:" + std::string(payment_system) +
                " health check is the only writer of payment_system_availability for "
                "this system (later calls are ignored without a warning)",
            {{"payment_system", payment_system}});
}

void CustomMetrics::observe_panel_api_response_time(std::string_view endpoint, double seconds) {
  catalog().panel_api_time.labels(endpoint).observe(seconds);
}

void CustomMetrics::increment_referral_revenue(std::string_view currency, double amount) {
  catalog().referral_revenue.labels(currency).inc(amount);
}

namespace {

// The cross-wiring the lower components leave to the catalog: logged exceptions count in
// errors_total, health checks feed the panel latency and provider availability. Installed
// when the catalog is first used (register_catalog, setup_monitoring, the default checks,
// any catalog metric) and, as early as possible, at static initialization whenever the
// linker keeps this file: a static library drops an object nothing references, so static
// initialization alone is not enough.
void count_logged_error(std::string_view error_type, std::string_view module) noexcept {
  try {
    PrometheusMetrics::increment_errors(error_type, module);
  } catch (...) {  // counting must never turn a logged error into a crash
  }
}
void observe_panel_answer(double seconds) noexcept {
  try {
    CustomMetrics::observe_panel_api_response_time("health_check", seconds);
  } catch (...) {
  }
}
void record_payment_check(std::string_view payment_system, bool available) noexcept {
  try {
    write_payment_availability(payment_system, available);
  } catch (...) {
  }
}
void claim_payment_availability(std::string_view payment_system) noexcept {
  CheckedPaymentSystems& checked = checked_payment_systems();
  try {
    std::lock_guard lock(checked.mutex);
    ++checked.checks[std::string(payment_system)];
  } catch (...) {  // out of memory: the setter keeps writing, as before checks owned the gauge
  }
}
void release_payment_availability(std::string_view payment_system) noexcept {
  CheckedPaymentSystems& checked = checked_payment_systems();
  std::lock_guard lock(checked.mutex);
  auto it = checked.checks.find(payment_system);
  if (it == checked.checks.end()) return;
  if (--it->second == 0) checked.checks.erase(it);
}
constinit const health::HttpCheckObserver kHealthCheckObserver{
    observe_panel_answer, record_payment_check, claim_payment_availability,
    release_payment_availability};

void install_catalog_hooks() noexcept {
  logging::set_error_counter(count_logged_error);
  health::set_http_check_observer(&kHealthCheckObserver);
}

[[maybe_unused]] const bool kCatalogWired = (install_catalog_hooks(), true);

}  // namespace

}  // namespace monitoring::metrics
