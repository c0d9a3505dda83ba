#include "monitoring/server/http_server.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>

#include "core/ascii.hpp"
#include "monitoring/error.hpp"
#include "server/connection.hpp"
#include "server/server_core.hpp"

namespace monitoring::server {

std::string_view Request::header(std::string_view name) const noexcept {
  for (const auto& [field, value] : headers)
    if (detail::iequals(field, name)) return value;
  return {};
}

namespace detail {

namespace {

thread_local Worker* t_current_worker = nullptr;

std::int64_t to_ns(std::chrono::milliseconds duration) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count();
}

}  // namespace

bool Route::allows(std::string_view method) const noexcept {
  for (const auto& allowed : methods)
    if (allowed == method || (method == "HEAD" && allowed == "GET")) return true;
  return false;
}

Core::Core(HttpServerOptions opts)
    : options(std::move(opts)),
      read_timeout_ns(to_ns(options.read_timeout)),
      keep_alive_timeout_ns(to_ns(options.keep_alive_timeout)),
      write_timeout_ns(to_ns(options.write_timeout)),
      probe_paths(options.probe_paths),
      admission(options, to_ns(options.stalled_request_grace)) {
  std::sort(probe_paths.begin(), probe_paths.end());
}

bool Core::is_probe(std::string_view path) const noexcept {
  return std::binary_search(probe_paths.begin(), probe_paths.end(), path, std::less<>());
}

// ---------------------------------------------------------------------------------------------
// Admission

Admission::Outcome Admission::admit(const std::string& address, Worker& worker, std::int64_t now) {
  Outcome outcome;
  std::lock_guard lock(mutex_);
  if (per_client_limit_ > 0) {
    const auto it = per_client_.find(address);
    if (it != per_client_.end() && it->second >= per_client_limit_ &&
        !evict_oldest([&](const Slot& slot) { return slot.address == address; }, now, outcome)) {
      outcome.rejected_per_client = true;
      return outcome;
    }
  }
  bool reserve = false;
  if (main_count_ >= max_connections_ &&
      !evict_oldest([](const Slot& slot) { return !slot.reserve; }, now, outcome)) {
    // Every connection is mid-request: only the probe reserve is left.
    if (reserve_count_ >= reserve_limit_ &&
        (reserve_limit_ == 0 ||
         !evict_oldest([](const Slot& slot) { return slot.reserve; }, now, outcome)))
      return outcome;
    reserve = true;
  }
  auto slot = std::make_shared<Slot>(address, worker, reserve, now);
  slot->index = slots_.size();
  slots_.push_back(slot);
  ++per_client_[address];
  ++(reserve ? reserve_count_ : main_count_);
  outcome.slot = std::move(slot);
  return outcome;
}

template <class Filter>
std::shared_ptr<Slot> Admission::evict_oldest(Filter&& filter, std::int64_t now, Outcome& outcome) {
  // A candidate can start a request between the scan and the exchange; then look again.
  for (int attempt = 0; attempt < 4; ++attempt) {
    Slot* oldest = nullptr;
    std::uint64_t oldest_state = 0;
    for (const auto& slot : slots_) {
      if (!slot->counted || !filter(*slot)) continue;
      const std::uint64_t state = slot->state.load(std::memory_order_acquire);
      const Slot::Phase phase = Slot::phase_of(state);
      if (phase == Slot::kBusy || phase == Slot::kEvicted) continue;
      if (phase == Slot::kPartial && now - Slot::since_of(state) < stalled_grace_ns_) continue;
      if (oldest == nullptr || Slot::since_of(state) < Slot::since_of(oldest_state)) {
        oldest = slot.get();
        oldest_state = state;
      }
    }
    if (oldest == nullptr) return nullptr;
    std::uint64_t expected = oldest_state;
    if (oldest->state.compare_exchange_strong(expected, Slot::pack(now, Slot::kEvicted),
                                              std::memory_order_acq_rel)) {
      uncount(*oldest);
      auto victim = slots_[oldest->index];
      outcome.evicted.emplace_back(victim, Slot::phase_of(oldest_state));
      return victim;
    }
  }
  return nullptr;
}

void Admission::uncount(Slot& slot) noexcept {
  if (!slot.counted) return;
  slot.counted = false;
  --(slot.reserve ? reserve_count_ : main_count_);
  const auto it = per_client_.find(slot.address);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
}

void Admission::release(Slot& slot) noexcept {
  std::lock_guard lock(mutex_);
  const std::size_t index = slot.index;
  if (index >= slots_.size() || slots_[index].get() != &slot) return;
  uncount(slot);
  slots_[index] = std::move(slots_.back());
  slots_[index]->index = index;
  slots_.pop_back();
}

void Core::connection_closed() noexcept {
  if (open_connections.fetch_sub(1, std::memory_order_acq_rel) == 1 &&
      stopping.load(std::memory_order_acquire)) {
    std::lock_guard lock(drain_mutex);
    drained.notify_all();
  }
}

// ---------------------------------------------------------------------------------------------
// Worker

Worker::Worker(Core& core, Counters& counters) : core_(core), counters_(counters) {
  // The sweep tick bounds how late a deadline is noticed: an eighth of the shortest timeout,
  // between 5 ms and 200 ms.
  const std::int64_t shortest =
      std::min({core_.read_timeout_ns, core_.keep_alive_timeout_ns, core_.write_timeout_ns});
  sweep_interval_ns_ = std::clamp<std::int64_t>(shortest / 8, 5'000'000, 200'000'000);
  mailbox_->io = &io;
  work_.emplace(io.get_executor());
}

Worker::~Worker() {
  detach_mailbox();
  join();
}

void Worker::start_thread() {
  arm_sweep();
  thread_ = std::thread([this] {
    t_current_worker = this;
    for (;;) {
      try {
        io.run();
        break;
      } catch (...) {
        // A failure inside one connection's callback (e.g. bad_alloc) must not take down the
        // server thread; the loop resumes with the remaining work.
      }
    }
    t_current_worker = nullptr;
  });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::detach_mailbox() {
  std::lock_guard lock(mailbox_->mutex);
  mailbox_->io = nullptr;
}

Worker* Worker::current() noexcept {
  return t_current_worker;
}

bool Worker::on_this_thread() const noexcept {
  return t_current_worker == this;
}

void Worker::add(Connection* connection) {
  connection->registry_index = connections_.size();
  connections_.push_back(connection);
}

void Worker::remove(Connection* connection) noexcept {
  const std::size_t index = connection->registry_index;
  if (index >= connections_.size() || connections_[index] != connection) return;
  connections_[index] = connections_.back();
  connections_[index]->registry_index = index;
  connections_.pop_back();
}

template <class Fn>
void Worker::for_each_connection(Fn&& fn) {
  // Collect strong references first: fn may close connections, which unregisters them.
  scratch_.clear();
  for (Connection* connection : connections_)
    if (auto strong = connection->weak_from_this().lock()) scratch_.push_back(std::move(strong));
  for (const auto& connection : scratch_) fn(*connection);
  scratch_.clear();
}

void Worker::adopt(tcp::socket socket, std::shared_ptr<Slot> slot) {
  if (closed_ || shutting_down_) {
    boost::system::error_code ec;
    socket.close(ec);
    core_.admission.release(*slot);
    core_.connection_closed();
    return;
  }
  std::make_shared<Connection>(*this, std::move(socket), std::move(slot))->start();
}

void Worker::evict(const std::shared_ptr<Slot>& slot) {
  // Not started yet: start() sees the eviction and closes at once.
  if (auto connection = slot->connection.lock()) connection->close();
}

void Worker::begin_shutdown() {
  shutting_down_ = true;
  for_each_connection([](Connection& connection) { connection.on_shutdown(); });
}

void Worker::force_close() {
  shutting_down_ = true;
  closed_ = true;
  sweep_timer_.cancel();
  for_each_connection([](Connection& connection) { connection.close(); });
  work_.reset();
}

void Worker::arm_sweep() {
  sweep_timer_.expires_after(std::chrono::nanoseconds(sweep_interval_ns_));
  sweep_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || closed_) return;
    sweep();
    arm_sweep();
  });
}

void Worker::sweep() {
  const std::int64_t now = coarse_monotonic_ns();
  scratch_.clear();
  for (Connection* connection : connections_)
    if (connection->deadline() <= now)
      if (auto strong = connection->weak_from_this().lock()) scratch_.push_back(std::move(strong));
  for (const auto& connection : scratch_) connection->on_deadline();
  scratch_.clear();
}

const RouteTable& Worker::routes() {
  const std::uint64_t version = core_.routes_version.load(std::memory_order_acquire);
  if (version != routes_version_) {
    std::lock_guard lock(core_.routes_mutex);
    routes_ = core_.routes;
    routes_version_ = core_.routes_version.load(std::memory_order_relaxed);
  }
  return *routes_;
}

std::string_view Worker::date_line() {
  const std::int64_t second = coarse_unix_seconds();
  if (second != date_second_) {
    date_second_ = second;
    format_date_line(second, date_line_);
  }
  return {date_line_, kDateLineSize};
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// HttpServer

namespace {

using detail::asio::ip::tcp;
namespace asio = detail::asio;

constexpr std::string_view kBusyResponse =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 21\r\n"
    "Connection: close\r\n"
    "\r\n"
    "too many connections\n";

constexpr std::string_view kClientBusyResponse =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 33\r\n"
    "Connection: close\r\n"
    "\r\n"
    "too many connections from client\n";

asio::ip::address parse_host(const std::string& host, int port) {
  std::string literal = host;
  if (literal == "localhost") literal = "127.0.0.1";
  if (literal.size() >= 2 && literal.front() == '[' && literal.back() == ']')
    literal = literal.substr(1, literal.size() - 2);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(literal, ec);
  if (ec)
    throw Error("HttpServer: cannot listen on " +
                detail::host_port(host, static_cast<unsigned>(port)) +
                ": host is not an IPv4/IPv6 literal or \"localhost\"");
  return address;
}

/// What to check when the listening socket cannot be set up, from the system error itself
/// (not from its text): "" when the system's message is all there is to say.
std::string listen_hint(std::error_code code, const std::string& host, int port) {
  if (code == std::errc::address_in_use)
    return " (is another process using port " + std::to_string(port) + "?)";
  if (code == std::errc::address_not_available)
    return " (" + host + " is not an address of this machine's network interfaces)";
  if (code == std::errc::permission_denied && port > 0 && port < 1024)
    return " (port " + std::to_string(port) +
           " is privileged: below 1024 binding needs root or CAP_NET_BIND_SERVICE)";
  return {};
}

std::string client_address(const tcp::socket& socket) {
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) return {};
  auto address = peer.address();
  // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; show them as a.b.c.d.
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  return address.to_string();
}

void validate(const HttpServerOptions& options) {
  const std::string where =
      detail::host_port(options.host, static_cast<unsigned>(std::max(options.port, 0)));
  if (options.port < 0 || options.port > 65535)
    throw ConfigError("HttpServer: port " + std::to_string(options.port) +
                      " is out of range 0..65535");
  if (options.threads == 0)
    throw ConfigError("HttpServer " + where + ": threads must be at least 1");
  if (options.max_connections == 0)
    throw ConfigError("HttpServer " + where + ": max_connections must be at least 1");
  if (options.max_header_bytes < 64 || options.max_header_bytes > (1u << 30))
    throw ConfigError("HttpServer " + where + ": max_header_bytes " +
                      std::to_string(options.max_header_bytes) + " is out of range 64..2^30");
  if (options.read_timeout.count() <= 0 || options.keep_alive_timeout.count() <= 0 ||
      options.write_timeout.count() <= 0)
    throw ConfigError("HttpServer " + where + ": timeouts must be positive");
  if (options.stalled_request_grace.count() < 0)
    throw ConfigError("HttpServer " + where + ": stalled_request_grace must not be negative");
  for (const auto& path : options.probe_paths)
    if (path.empty() || path.front() != '/')
      throw ConfigError("HttpServer " + where + ": probe path '" + path.substr(0, 200) +
                        "' must start with '/'");
}

void check_route(const std::string& path, const std::vector<std::string>& methods) {
  if (path.empty() || path.front() != '/')
    throw Error("HttpServer::route: path '" + path.substr(0, 200) + "' must start with '/'");
  if (methods.empty())
    throw Error("HttpServer::route: no methods for path '" + path.substr(0, 200) + "'");
  for (const auto& method : methods)
    if (!detail::is_token(method))
      throw Error("HttpServer::route: invalid method '" + method.substr(0, 50) + "' for path '" +
                  path.substr(0, 200) + "'");
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(HttpServerOptions options)
      : core(std::move(options)), bound_port(static_cast<std::uint16_t>(core.options.port)) {
    // Allocated once: stats() reads them from any thread without a lock.
    for (unsigned i = 0; i < std::max(core.options.threads, 1u); ++i)
      counters.push_back(std::make_unique<detail::Counters>());
  }

  void add_route(std::string path, detail::Route route) {
    check_route(path, route.methods);
    for (const auto& method : route.methods) {
      if (!route.allow.empty()) route.allow += ", ";
      route.allow += method;
      if (method == "GET" &&
          std::find(route.methods.begin(), route.methods.end(), "HEAD") == route.methods.end())
        route.allow += ", HEAD";
    }
    std::lock_guard lock(core.routes_mutex);
    auto table = std::make_shared<detail::RouteTable>(*core.routes);
    if (path.size() >= 2 && path.ends_with("/*")) {
      path.pop_back();
      table->subtrees.insert_or_assign(std::move(path), std::move(route));
    } else {
      table->routes.insert_or_assign(std::move(path), std::move(route));
    }
    core.routes = std::move(table);
    core.routes_version.fetch_add(1, std::memory_order_release);
  }

  void start();
  void stop(std::chrono::milliseconds grace);
  void accept_next();
  void on_accept(const boost::system::error_code& ec, tcp::socket socket, detail::Worker& target);
  void reject(tcp::socket& socket, std::string_view response);

  detail::Core core;
  std::mutex lifecycle_mutex;
  std::atomic<bool> running{false};
  std::atomic<std::uint16_t> bound_port;
  // Counters outlive the workers so stats() still adds up after stop().
  std::vector<std::unique_ptr<detail::Counters>> counters;
  std::vector<std::unique_ptr<detail::Worker>> workers;
  // Both bound to workers[0]'s event loop and used on its thread only.
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> accept_retry;
  std::size_t next_worker = 0;
};

void HttpServer::Impl::start() {
  std::lock_guard lock(lifecycle_mutex);
  const HttpServerOptions& options = core.options;
  if (running.load())
    throw Error("HttpServer: already running on " +
                detail::host_port(options.host, bound_port.load()));
  validate(options);
  const asio::ip::address address = parse_host(options.host, options.port);
  const tcp::endpoint endpoint(address, static_cast<std::uint16_t>(options.port));

  for (unsigned i = 0; i < options.threads; ++i)
    workers.push_back(std::make_unique<detail::Worker>(core, *counters[i]));

  acceptor = std::make_unique<tcp::acceptor>(workers[0]->io);
  accept_retry = std::make_unique<asio::steady_timer>(workers[0]->io);
  boost::system::error_code ec;
  auto fail = [&](const char* what) {
    acceptor.reset();
    accept_retry.reset();
    workers.clear();
    const std::error_code code(ec.value(), std::system_category());
    throw ListenError("HttpServer: cannot listen on " +
                          detail::host_port(options.host, static_cast<unsigned>(options.port)) +
                          ": " + what + ": " + ec.message() +
                          listen_hint(code, options.host, options.port),
                      what, code);
  };
  acceptor->open(endpoint.protocol(), ec);
  if (ec) fail("socket");
  acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) fail("SO_REUSEADDR");
  acceptor->bind(endpoint, ec);
  if (ec) fail("bind");
  acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("listen");
  bound_port.store(acceptor->local_endpoint(ec).port());

  core.stopping.store(false);
  asio::post(workers[0]->io, [this] { accept_next(); });
  for (auto& worker : workers) worker->start_thread();
  running.store(true);
}

void HttpServer::Impl::accept_next() {
  detail::Worker& target = *workers[next_worker];
  next_worker = (next_worker + 1) % workers.size();
  acceptor->async_accept(target.io,
                         [this, &target](const boost::system::error_code& ec, tcp::socket socket) {
                           on_accept(ec, std::move(socket), target);
                         });
}

void HttpServer::Impl::on_accept(const boost::system::error_code& ec, tcp::socket socket,
                                 detail::Worker& target) {
  if (ec == asio::error::operation_aborted || !acceptor->is_open()) return;
  if (ec) {
    if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
        ec == asio::error::no_memory || ec.value() == ENFILE) {
      // Out of descriptors: retrying at once would spin; the backlog keeps the clients waiting.
      accept_retry->expires_after(std::chrono::milliseconds(50));
      accept_retry->async_wait([this](const boost::system::error_code& error) {
        if (!error && acceptor->is_open()) accept_next();
      });
      return;
    }
    accept_next();
    return;
  }
  if (core.stopping.load(std::memory_order_acquire)) {
    boost::system::error_code ignored;
    socket.close(ignored);
    return;
  }
  detail::Counters& stats = workers[0]->counters();
  auto outcome = core.admission.admit(client_address(socket), target, detail::Slot::precise_now());
  for (auto& [victim, phase] : outcome.evicted) {
    detail::Counters::bump(phase == detail::Slot::kIdle ? stats.evicted_idle
                                                        : stats.evicted_stalled);
    detail::Worker& owner = victim->worker;
    asio::post(owner.io, [slot = std::move(victim)] { detail::Worker::evict(slot); });
  }
  if (!outcome.slot) {
    detail::Counters::bump(outcome.rejected_per_client ? stats.rejected_per_client
                                                       : stats.rejected);
    reject(socket, outcome.rejected_per_client ? kClientBusyResponse : kBusyResponse);
  } else {
    core.open_connections.fetch_add(1, std::memory_order_acq_rel);
    detail::Counters::bump(stats.accepted);
    if (&target == workers[0].get()) {
      target.adopt(std::move(socket), std::move(outcome.slot));
    } else {
      asio::post(target.io,
                 [&target, moved = std::move(socket), slot = std::move(outcome.slot)]() mutable {
                   target.adopt(std::move(moved), std::move(slot));
                 });
    }
  }
  accept_next();
}

void HttpServer::Impl::reject(tcp::socket& socket, std::string_view response) {
  // Best effort, never blocking: tell the client why, then close.
  boost::system::error_code ec;
  socket.non_blocking(true, ec);
  socket.write_some(asio::buffer(response.data(), response.size()), ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

void HttpServer::Impl::stop(std::chrono::milliseconds grace) {
  std::lock_guard lock(lifecycle_mutex);
  if (!running.load()) return;
  if (detail::Worker* current = detail::Worker::current();
      current != nullptr && &current->core() == &core)
    throw Error("HttpServer::stop called from one of the server's own threads (from a handler?)");

  core.stopping.store(true, std::memory_order_release);
  asio::post(workers[0]->io, [this] {
    boost::system::error_code ec;
    acceptor->close(ec);
    accept_retry->cancel();
  });
  for (auto& worker : workers) asio::post(worker->io, [w = worker.get()] { w->begin_shutdown(); });
  {
    std::unique_lock wait_lock(core.drain_mutex);
    core.drained.wait_for(wait_lock, std::max(grace, std::chrono::milliseconds(0)), [this] {
      return core.open_connections.load(std::memory_order_acquire) == 0;
    });
  }
  for (auto& worker : workers) asio::post(worker->io, [w = worker.get()] { w->force_close(); });
  for (auto& worker : workers) worker->join();
  for (auto& worker : workers) worker->detach_mailbox();
  acceptor.reset();
  accept_retry.reset();
  workers.clear();
  next_worker = 0;
  running.store(false);
}

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() {
  try {
    stop();
  } catch (...) {
    // Destroyed from a handler: nothing sane is left to do but not throw from a destructor.
  }
}

void HttpServer::route(std::string path, Handler handler, std::vector<std::string> methods) {
  if (!handler)
    throw Error("HttpServer::route: empty handler for path '" + path.substr(0, 200) + "'");
  detail::Route route;
  route.handler = std::move(handler);
  route.methods = std::move(methods);
  impl_->add_route(std::move(path), std::move(route));
}

void HttpServer::route_async(std::string path, AsyncHandler handler,
                             std::vector<std::string> methods) {
  if (!handler)
    throw Error("HttpServer::route_async: empty handler for path '" + path.substr(0, 200) + "'");
  detail::Route route;
  route.async_handler = std::move(handler);
  route.methods = std::move(methods);
  impl_->add_route(std::move(path), std::move(route));
}

void HttpServer::start() {
  impl_->start();
}

void HttpServer::stop(std::chrono::milliseconds grace) {
  impl_->stop(grace);
}

std::uint16_t HttpServer::port() const noexcept {
  return impl_->bound_port.load();
}

const std::string& HttpServer::host() const noexcept {
  return impl_->core.options.host;
}

bool HttpServer::running() const noexcept {
  return impl_->running.load();
}

bool HttpServer::stopping() const noexcept {
  return impl_->running.load() && impl_->core.stopping.load(std::memory_order_acquire);
}

HttpServerStats HttpServer::stats() const noexcept {
  HttpServerStats stats;
  for (const auto& counters : impl_->counters) {
    stats.connections_accepted += counters->accepted.load(std::memory_order_relaxed);
    stats.connections_rejected += counters->rejected.load(std::memory_order_relaxed);
    stats.requests += counters->requests.load(std::memory_order_relaxed);
    stats.bad_requests += counters->bad_requests.load(std::memory_order_relaxed);
    stats.timeouts += counters->timeouts.load(std::memory_order_relaxed);
    stats.async_writes += counters->async_writes.load(std::memory_order_relaxed);
    stats.connections_rejected_per_client +=
        counters->rejected_per_client.load(std::memory_order_relaxed);
    stats.connections_evicted_idle += counters->evicted_idle.load(std::memory_order_relaxed);
    stats.connections_evicted_stalled += counters->evicted_stalled.load(std::memory_order_relaxed);
  }
  stats.connections_open = impl_->core.open_connections.load(std::memory_order_relaxed);
  return stats;
}

bool bearer_token_matches(std::string_view authorization, std::string_view token) noexcept {
  constexpr std::string_view kScheme = "bearer";
  if (token.empty() || authorization.size() <= kScheme.size()) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i)
    if (core::ascii_lower(authorization[i]) != kScheme[i]) return false;
  std::string_view presented = authorization.substr(kScheme.size());
  if (presented.front() != ' ') return false;
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  while (!presented.empty() && (presented.back() == ' ' || presented.back() == '\t'))
    presented.remove_suffix(1);

  // Every byte of the expected token is compared whatever the presented one holds, so the
  // time depends only on the token's length, not on how much of it an attacker guessed.
  unsigned difference = presented.size() == token.size() ? 0u : 1u;
  for (std::size_t i = 0; i < token.size(); ++i) {
    const char offered = i < presented.size() ? presented[i] : '\0';
    difference |= static_cast<unsigned char>(offered ^ token[i]);
  }
  return difference == 0;
}

}  // namespace monitoring::server
