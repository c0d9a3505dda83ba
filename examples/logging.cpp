// Structured logging in a few lines: ECS JSON to logs/app.log, readable text on the console,
// context scopes, an exception with its stack, a backtrace (the DEBUG steps before an error,
// written only because the error happened), and a record observer (what the Sentry client
// hooks into).
//
//   example_logging [log_dir]      (default: ./logs)

#include <iostream>
#include <monitoring/logging.hpp>
#include <stdexcept>
#include <thread>

namespace {

void charge(int payment_id) {
  if (payment_id % 2 == 0) throw std::runtime_error("card declined by issuer");
}

}  // namespace

int main(int argc, char** argv) {
  namespace logging = monitoring::logging;

  logging::LoggingOptions options = logging::LoggingOptions::from_env();  // LOG_LEVEL, LOG_DIR, ...
  options.log_dir = argc > 1 ? argv[1] : "logs";
  options.json = false;  // console: colored text; the file is always ECS JSON
  options.console = logging::ConsoleTarget::kStdout;
  options.service_name = "example";
  if (options.backtrace == 0) options.backtrace = 16;  // LOG_BACKTRACE: DEBUG steps kept per thread
  logging::configure(options);

  // Errors and above would become Sentry events, the rest breadcrumbs.
  const logging::RecordSubscription subscription = logging::subscribe_records(
      [](const logging::RecordView& record) {
        if (record.level >= logging::Level::kError)
          std::cerr << "[observer] event: " << record.message << " (" << record.error_type << ")\n";
      },
      logging::Level::kInfo);

  monitoring::StructuredLogger logger("payment_service");
  logger.add_context({{"service", "payment"}, {"version", "1.0.0"}});

  for (int payment_id = 1; payment_id <= 2; ++payment_id) {
    auto request = logger.with_request_id();  // a fresh UUIDv4
    auto user = logger.with_user(123, "john");
    logger.info("Processing payment",
                {{"payment_id", payment_id}, {"amount", 1000}, {"card", "4111 1111 1111 1111"}});
    logger.debug("Calling the provider", {{"payment_id", payment_id}});  // kept, not written
    try {
      charge(payment_id);
      logger.info("Payment succeeded", {{"payment_id", payment_id}});
    } catch (...) {
      // Writes the kept "Calling the provider" first, marked [backtrace].
      logger.exception("Payment processing failed", {{"payment_id", payment_id}});
    }

    // Work on another thread keeps the request's context when it is carried there.
    std::thread worker(monitoring::context::bind([&logger, payment_id] {
      // A static call site: message and key fixed at compile time, only the value queued.
      logger.info<"Receipt sent">(monitoring::logging::field<"payment_id">(payment_id));
    }));
    worker.join();
  }

  logging::shutdown();  // writes everything (also done at exit)
  std::cout << "JSON lines are in " << options.log_dir << "/app.log\n";
}
