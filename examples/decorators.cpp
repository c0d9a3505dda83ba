// The decorators: a timed scope (track_time), a timed wrapper with the wrapped function's
// signature (PrometheusMetrics::timed), and sentry::error_handler (Sentry event +
// errors_total + log line + rethrow), stacked with the error handler outside and the timer
// inside, for plain functions and for boost::asio::awaitable coroutines.
//
//   example_decorators                 no Sentry: failures are still counted and logged (exit 0)
//   SENTRY_DSN=https://<key>@o1.ingest.sentry.io/<project> example_decorators
//                                      ... and also sent to Sentry as events

// clang-format off
#include <utility>  // first: Boost 1.74's awaitable.hpp uses std::exchange without including it
// clang-format on

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <monitoring/monitoring.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using monitoring::PrometheusMetrics;
namespace sentry = monitoring::sentry;

namespace {

/// A coroutine that waits on a timer, as a call to the panel API would.
asio::awaitable<int> fetch_panel_user(int user_id) {
  asio::steady_timer timer(co_await asio::this_coro::executor, 20ms);
  co_await timer.async_wait(asio::use_awaitable);
  co_return user_id * 10;
}

/// Prints the exposition lines that start with one of `prefixes`.
void print_series(std::initializer_list<std::string_view> prefixes) {
  const std::string text = serialize(monitoring::metrics::Registry::default_registry());
  for (std::size_t at = 0; at < text.size();) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string_view line(text.data() + at, end - at);
    for (std::string_view prefix : prefixes)
      if (line.starts_with(prefix)) std::cout << "    " << line << "\n";
    at = end + 1;
  }
}

}  // namespace

int main() {
  namespace logging = monitoring::logging;
  logging::LoggingOptions log_options;  // no log_dir: console only
  log_options.json = false;
  log_options.console = logging::ConsoleTarget::kStdout;
  logging::configure(log_options);

  if (const char* dsn = std::getenv("SENTRY_DSN"); dsn != nullptr && *dsn != '\0') {
    try {
      sentry::init({.dsn = dsn, .environment = "example"});
    } catch (const sentry::SentryError& error) {
      std::cerr << error.what() << "\n";  // names the DSN with its key redacted
      return 2;
    }
  }
  monitoring::metrics::register_catalog();

  // 1. A timed scope: observed into payment_processing_duration_seconds when it ends.
  {
    auto timer = PrometheusMetrics::track_time("payment", {{"payment_system", "yookassa"}});
    std::this_thread::sleep_for(5ms);
  }
  {
    auto timer = PrometheusMetrics::track_time("payment", {{"payment_system", "cryptopay"}});
    std::this_thread::sleep_for(5ms);
    timer.cancel();  // e.g. the user went away: this one is not observed
  }

  // 2. The decorator form: same signature, every call timed (also when it throws).
  auto process_payment =
      PrometheusMetrics::timed("payment", {{"payment_system", "yookassa"}}, [](int payment_id) {
        std::this_thread::sleep_for(2ms);
        return payment_id % 2 == 1;  // odd ids succeed
      });
  std::cout << "process_payment(41) = " << std::boolalpha << process_payment(41) << "\n";

  // 3. Both decorators, error_handler(tags, timed(kind, labels, fn)): on an
  //    exception, a Sentry event with the tags (when Sentry runs), errors_total{error_type,
  //    module="payment"} + 1, a log line with the stack trace, and the exception rethrown.
  auto charge = sentry::error_handler(
      {{"module", "payment"}},
      PrometheusMetrics::timed("payment", {{"payment_system", "yookassa"}}, [](int amount) {
        if (amount <= 0) throw std::invalid_argument("amount must be positive");
        return amount;
      }));
  charge(799);
  try {
    charge(-1);
  } catch (const std::invalid_argument& error) {
    std::cout << "rethrown to the caller: " << error.what() << "\n";
  }

  // 4. Coroutines: callables returning asio::awaitable<T> are timed until the coroutine
  //    completes, and error_handler sees exceptions thrown inside it. The wrappers must outlive
  //    the coroutines they start (the coroutine refers to the wrapped callable).
  auto timed_fetch =
      PrometheusMetrics::timed("panel_api", {{"endpoint", "/api/users"}}, fetch_panel_user);
  auto renew = sentry::error_handler(
      {{"module", "subscription"}},
      PrometheusMetrics::timed("bot_handler", {{"handler", "renew"}},
                               [](int days) -> asio::awaitable<int> {
                                 asio::steady_timer timer(co_await asio::this_coro::executor, 5ms);
                                 co_await timer.async_wait(asio::use_awaitable);
                                 if (days <= 0) throw std::out_of_range("no such plan");
                                 co_return days;
                               }));
  asio::io_context io;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        const int panel_user = co_await timed_fetch(7);
        const int days = co_await renew(30);
        std::cout << "coroutines: panel user " << panel_user << ", renewed for " << days
                  << " days\n";
        try {
          co_await renew(0);
        } catch (const std::out_of_range& error) {
          std::cout << "coroutine rethrew: " << error.what() << "\n";
        }
      },
      asio::detached);
  io.run();

  logging::flush();  // the log lines above, before the metrics printout
  std::cout << "metrics after the calls:\n";
  print_series({"payment_processing_duration_seconds_count", "bot_handler_duration_seconds_count",
                "panel_api_response_time_count", "errors_total{"});

  if (sentry::is_enabled()) {
    std::cout << "Sentry flushed: " << (sentry::flush(5s) ? "yes" : "no") << "\n";
    sentry::close();
  }
  logging::shutdown();
  return 0;
}
