#pragma once

// Internals of HttpServer: the state shared by all threads (Core), one event loop per thread
// (Worker) and the connections it owns (Connection, in connection.hpp).

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "monitoring/server/http_server.hpp"
#include "server/http_format.hpp"

namespace monitoring::server::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Route {
  Handler handler;             // set for sync routes
  AsyncHandler async_handler;  // set for async routes
  std::vector<std::string> methods;
  std::string allow;  // the Allow header value: the methods, HEAD added after GET

  bool allows(std::string_view method) const noexcept;
};

/// Immutable once published; workers hold a shared_ptr to the version they use.
struct RouteTable {
  std::map<std::string, Route, std::less<>> routes;

  const Route* find(std::string_view path) const noexcept {
    const auto it = routes.find(path);
    return it == routes.end() ? nullptr : &it->second;
  }
};

/// Per-thread counters: written by their worker only (no locked instructions), read by stats().
struct alignas(64) Counters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> bad_requests{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> async_writes{0};

  static void bump(std::atomic<std::uint64_t>& counter) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

/// Where a Responder posts its answer. Shared with responders so that one called after the
/// worker is gone finds `io == nullptr` instead of a dangling event loop.
struct Mailbox {
  std::mutex mutex;
  asio::io_context* io = nullptr;
};

/// State shared by the server object and all its workers.
struct Core {
  explicit Core(HttpServerOptions opts);

  HttpServerOptions options;
  std::int64_t read_timeout_ns;
  std::int64_t keep_alive_timeout_ns;
  std::int64_t write_timeout_ns;

  std::atomic<std::size_t> open_connections{0};
  std::atomic<bool> stopping{false};
  std::mutex drain_mutex;
  std::condition_variable drained;

  std::mutex routes_mutex;
  std::shared_ptr<const RouteTable> routes = std::make_shared<RouteTable>();
  std::atomic<std::uint64_t> routes_version{0};

  /// Called once per connection that was counted in open_connections, when it is gone.
  void connection_closed() noexcept;
};

class Connection;

/// One thread with its own event loop and the connections it owns. Everything here except
/// post()-ed work and the counters is touched only by that thread.
class Worker {
 public:
  Worker(Core& core, Counters& counters);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start_thread();
  void join();
  /// Responders posting after this find no event loop.
  void detach_mailbox();

  /// Takes over an accepted socket (on this worker's thread).
  void adopt(tcp::socket socket);
  /// stop() phase 1: close idle connections, finish the others with Connection: close.
  void begin_shutdown();
  /// stop() phase 2: close everything, let the event loop run out of work.
  void force_close();

  /// The route table, refreshed when route() published a new one.
  const RouteTable& routes();
  /// The current "Date: ...\r\n" line.
  std::string_view date_line();

  bool shutting_down() const noexcept { return shutting_down_; }
  bool on_this_thread() const noexcept;
  Core& core() noexcept { return core_; }
  Counters& counters() noexcept { return counters_; }
  const std::shared_ptr<Mailbox>& mailbox() const noexcept { return mailbox_; }

  void add(Connection* connection);
  void remove(Connection* connection) noexcept;

  /// The worker whose thread is calling, or nullptr.
  static Worker* current() noexcept;

 private:
  void arm_sweep();
  void sweep();
  template <class Fn>
  void for_each_connection(Fn&& fn);

  Core& core_;
  Counters& counters_;
  std::shared_ptr<Mailbox> mailbox_ = std::make_shared<Mailbox>();
  // Declared before io_: pending handlers destroyed with io_ still unregister from here.
  std::vector<Connection*> connections_;
  std::vector<std::shared_ptr<Connection>> scratch_;
  std::shared_ptr<const RouteTable> routes_;
  std::uint64_t routes_version_ = ~std::uint64_t{0};
  std::int64_t date_second_ = -1;
  char date_line_[kDateLineSize] = {};
  bool shutting_down_ = false;
  bool closed_ = false;
  std::int64_t sweep_interval_ns_;

 public:
  asio::io_context io{1};

 private:
  asio::steady_timer sweep_timer_{io};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread thread_;
};

}  // namespace monitoring::server::detail
