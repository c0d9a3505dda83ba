// Coroutines that keep their own request context across co_await: monitoring::spawn runs each
// as a task whose user, request id, fields and Sentry thread scope follow it from thread to
// thread, like Python's `with logger.with_user(...): await ...`.
//
//   example_coroutine    prints JSON log lines (exit 0): each "charged" / "receipt sent"
//                        line carries its own coroutine's user.id and request_id

// clang-format off
#include <utility>  // first: Boost 1.74's awaitable.hpp uses std::exchange without including it
// clang-format on

#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <monitoring/logging.hpp>
#include <monitoring/monitor/coroutine.hpp>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

monitoring::StructuredLogger& logger() {
  static monitoring::StructuredLogger instance("bot.payments");
  return instance;
}

asio::awaitable<void> charge(int amount) {
  auto fields = monitoring::context::with_fields({{"amount", amount}});  // only inside this call
  asio::steady_timer bank(co_await asio::this_coro::executor, 5ms);
  co_await bank.async_wait(asio::use_awaitable);
  logger().info("charged");
}

asio::awaitable<void> process_payment(int user_id) {
  auto user = logger().with_user(user_id);
  auto request = logger().with_request_id();
  co_await charge(100 * user_id);  // may resume on another thread: the scopes come along
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  logger().info("receipt sent");
}

}  // namespace

int main() {
  namespace logging = monitoring::logging;
  logging::LoggingOptions options;  // ECS JSON on stdout, no file
  options.console = logging::ConsoleTarget::kStdout;
  logging::configure(options);

  asio::io_context io;
  {
    // Spawned tasks start with the spawner's context: both payments carry the chat type.
    auto chat = monitoring::context::with_fields({{"chat_type", "private"}});
    for (int user_id : {41, 42}) monitoring::spawn(io, process_payment(user_id), asio::detached);
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back([&io] { io.run(); });
  for (auto& thread : threads) thread.join();
  logger().info("all payments done");  // no user, request id or chat type: the thread's own

  logging::shutdown();  // writes every queued line
  return 0;
}
