// Carrying the request context (user, request id, trace, extra fields) to work that runs
// elsewhere: a thread pool, Asio handlers, a queued job, a coroutine. The context is
// per-thread, so work that leaves the thread takes it along explicitly: context::bind(fn), or
// context::current() there and context::attach(snapshot) here.
//
//   example_context      prints JSON log lines (exit 0); compare their user.id / request_id

// clang-format off
#include <utility>  // first: Boost 1.74's awaitable.hpp uses std::exchange without including it
// clang-format on

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <iostream>
#include <monitoring/logging.hpp>
#include <mutex>
#include <queue>
#include <thread>

namespace asio = boost::asio;
namespace context = monitoring::context;
using namespace std::chrono_literals;

namespace {

monitoring::StructuredLogger& logger() {
  static monitoring::StructuredLogger instance("bot.context");
  return instance;
}

/// A coroutine suspends at every co_await and may resume on another thread, while other
/// handlers run on this one: attach the context only around code that does not suspend.
asio::awaitable<void> renew_subscription(monitoring::ContextSnapshot request) {
  {
    auto scope = context::attach(request);
    logger().info("coroutine: renewal started");
  }  // the scope ends before the coroutine suspends
  asio::steady_timer timer(co_await asio::this_coro::executor, 10ms);
  co_await timer.async_wait(asio::use_awaitable);
  auto scope = context::attach(request);
  logger().info("coroutine: renewal done");  // nothing is awaited after this point
}

}  // namespace

int main() {
  namespace logging = monitoring::logging;
  logging::LoggingOptions options;  // ECS JSON on stdout, no file
  options.console = logging::ConsoleTarget::kStdout;
  logging::configure(options);

  asio::thread_pool pool(2);
  asio::io_context io;
  std::mutex jobs_mutex;
  std::queue<std::pair<monitoring::ContextSnapshot, int>> jobs;

  {
    // The request's scopes: every log line (and Sentry event) on this thread gets them.
    auto user = context::with_user(123, "john");
    auto request = context::with_request_id();  // a new UUIDv4
    auto fields = context::with_fields({{"chat_type", "private"}});
    logger().info("update received");

    // 1. context::bind: the wrapped callable runs with the context of *this* moment.
    asio::post(pool, context::bind([] { logger().info("pool: charged the card"); }));
    asio::post(pool, [] { logger().info("pool: posted without bind, no user or request id"); });

    // 2. Asio handlers: wrap the handler, bind an executor (strand) outside the wrapper.
    auto strand = asio::make_strand(io);
    auto timer = std::make_shared<asio::steady_timer>(io, 5ms);
    timer->async_wait(
        asio::bind_executor(strand, context::bind([timer](const boost::system::error_code&) {
                              logger().info("timer handler: receipt sent");
                            })));

    // 3. A snapshot stored with queued work, attached by whoever runs it.
    {
      std::lock_guard lock(jobs_mutex);
      jobs.emplace(context::current(), 42);
    }

    // 4. A coroutine gets the snapshot as an argument.
    asio::co_spawn(io, renew_subscription(context::current()), asio::detached);

    const monitoring::ContextSnapshot now = context::current();
    std::cout << "snapshot: user " << now.user_id() << " (" << now.user_name() << "), request "
              << now.request_id() << "\n";
  }  // the scopes end: this thread's context is empty again
  logger().info("between updates: no context");

  std::thread worker([&] {
    std::lock_guard lock(jobs_mutex);
    while (!jobs.empty()) {
      auto scope = context::attach(jobs.front().first);
      logger().info("worker: job done", {{"job_id", jobs.front().second}});
      jobs.pop();
    }
  });
  worker.join();
  io.run();
  pool.join();

  logging::shutdown();  // writes every queued line
  return 0;
}
