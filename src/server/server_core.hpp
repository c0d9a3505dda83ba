#pragma once

// Internals of HttpServer: the state shared by all threads (Core), one event loop per thread
// (Worker) and the connections it owns (Connection, in connection.hpp).

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
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
  /// Subtree routes ("/health/*" registered), keyed by their prefix without the '*'
  /// ("/health/").
  std::map<std::string, Route, std::less<>> subtrees;

  /// The exact route, else the subtree route with the longest prefix of `path` ending at a '/'.
  const Route* find(std::string_view path) const noexcept {
    if (const auto it = routes.find(path); it != routes.end()) return &it->second;
    if (subtrees.empty()) return nullptr;
    for (std::size_t slash = path.rfind('/'); slash != std::string_view::npos;
         slash = slash == 0 ? std::string_view::npos : path.rfind('/', slash - 1)) {
      if (const auto it = subtrees.find(path.substr(0, slash + 1)); it != subtrees.end())
        return &it->second;
    }
    return nullptr;
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
  std::atomic<std::uint64_t> rejected_per_client{0};
  std::atomic<std::uint64_t> evicted_idle{0};
  std::atomic<std::uint64_t> evicted_stalled{0};

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

class Worker;
class Connection;

/// What the admission control knows of one connection: its client, its pool, and what it is
/// doing. Created at accept, shared by the connection (its worker's thread) and the Admission
/// (the accept thread).
struct Slot {
  /// kIdle: no request bytes since connect or the last response (or lingering after it);
  /// kPartial: a request is arriving, or a new connection the server has not looked at yet
  /// (its request may be in the socket already: a probe is not closed for room before it
  /// could be read); kBusy: a complete request is being handled or answered;
  /// kEvicted: closed for room (final).
  enum Phase : std::uint64_t { kIdle = 0, kPartial = 1, kBusy = 2, kEvicted = 3 };

  Slot(std::string client, Worker& owner, bool in_reserve, std::int64_t now)
      : address(std::move(client)),
        worker(owner),
        reserve(in_reserve),
        state(pack(now, kPartial)) {}

  /// The clock of `state`: precise, so that connections idle since the same coarse tick
  /// still rank by age.
  static std::int64_t precise_now() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  static std::uint64_t pack(std::int64_t since, Phase phase) noexcept {
    return (static_cast<std::uint64_t>(since) << 2) | phase;
  }
  static Phase phase_of(std::uint64_t packed) noexcept { return static_cast<Phase>(packed & 3); }
  static std::int64_t since_of(std::uint64_t packed) noexcept {
    return static_cast<std::int64_t>(packed >> 2);
  }

  /// Moves to `phase` since `now` (worker thread); false when already evicted, then the
  /// connection must close.
  bool enter(Phase phase, std::int64_t now) noexcept {
    std::uint64_t current = state.load(std::memory_order_acquire);
    do {
      if (phase_of(current) == kEvicted) return false;
    } while (!state.compare_exchange_weak(current, pack(now, phase), std::memory_order_acq_rel,
                                          std::memory_order_acquire));
    return true;
  }
  bool evicted() const noexcept {
    return phase_of(state.load(std::memory_order_acquire)) == kEvicted;
  }

  const std::string address;
  Worker& worker;
  const bool reserve;  // admitted into the probe reserve: serves one probe, refuses the rest
  /// Phase and the monotonic time it began (ns, shifted left by 2), in one word so that an
  /// eviction's compare-exchange checks both.
  std::atomic<std::uint64_t> state;
  // Guarded by Admission's mutex.
  std::size_t index = 0;
  bool counted = true;  // holds a place in its pool and its client's count
  // Worker thread only (set when the connection starts; evictions run on that thread too).
  std::weak_ptr<Connection> connection;
};

/// Admission control (accept thread, plus release from the workers): the connection cap, the
/// per-client limit, the probe reserve, and closing the longest idle connection for room.
class Admission {
 public:
  struct Outcome {
    std::shared_ptr<Slot> slot;  // null when refused
    bool rejected_per_client = false;
    /// Connections to close for room, already uncounted; with the phase each was taken in.
    std::vector<std::pair<std::shared_ptr<Slot>, Slot::Phase>> evicted;
  };

  Admission(const HttpServerOptions& options, std::int64_t stalled_grace_ns)
      : max_connections_(options.max_connections),
        per_client_limit_(options.max_connections_per_client),
        reserve_limit_(options.probe_reserve),
        stalled_grace_ns_(stalled_grace_ns) {}

  /// Decides on a new connection from `address`, to be served by `worker`.
  Outcome admit(const std::string& address, Worker& worker, std::int64_t now);
  /// The connection is gone (any thread).
  void release(Slot& slot) noexcept;

 private:
  template <class Filter>
  std::shared_ptr<Slot> evict_oldest(Filter&& filter, std::int64_t now, Outcome& outcome);
  void uncount(Slot& slot) noexcept;

  const std::size_t max_connections_;
  const std::size_t per_client_limit_;
  const std::size_t reserve_limit_;
  const std::int64_t stalled_grace_ns_;

  std::mutex mutex_;
  std::vector<std::shared_ptr<Slot>> slots_;  // every live slot, counted or being evicted
  std::map<std::string, std::size_t, std::less<>> per_client_;
  std::size_t main_count_ = 0;
  std::size_t reserve_count_ = 0;
};

/// State shared by the server object and all its workers.
struct Core {
  explicit Core(HttpServerOptions opts);

  HttpServerOptions options;
  std::int64_t read_timeout_ns;
  std::int64_t keep_alive_timeout_ns;
  std::int64_t write_timeout_ns;
  std::vector<std::string> probe_paths;  // sorted
  Admission admission;

  bool is_probe(std::string_view path) const noexcept;

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
  void adopt(tcp::socket socket, std::shared_ptr<Slot> slot);
  /// Closes the connection of a slot evicted for room (on this worker's thread).
  static void evict(const std::shared_ptr<Slot>& slot);
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
