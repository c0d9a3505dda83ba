// Connection floods must not starve the probes (issue 14, point 3): at max_connections the
// server closes the connection idle longest instead of refusing the new one; one client
// address cannot hold more than max_connections_per_client; a request dribbled past
// stalled_request_grace counts as idle; only when every connection is mid-request is a new one
// refused with 503, and even then the probe reserve still answers the probe paths.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "monitoring/error.hpp"
#include "monitoring/server/http_server.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"

namespace monitoring::server {
namespace {

using namespace std::chrono_literals;
using testing::Client;
using testing::eventually;

Response text(std::string body) {
  Response response;
  response.body = std::move(body);
  return response;
}

HttpServerOptions limited(std::size_t max_connections) {
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.max_connections = max_connections;
  options.max_connections_per_client = 0;
  options.probe_reserve = 0;
  return options;
}

/// True when the server has closed `client` already (EOF or reset is waiting), without waiting.
bool closed_now(const Client& client) {
  pollfd pfd{client.fd(), POLLIN, 0};
  if (::poll(&pfd, 1, 0) <= 0) return false;
  char byte;
  return ::recv(client.fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

/// One GET with Connection: close from source address `source` (another loopback address is
/// another client); the raw answer, "" when refused or nothing came.
std::string get_from(const char* source, std::uint16_t port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {};
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0 &&
      ::connect(fd, reinterpret_cast<const sockaddr*>(&remote), sizeof remote) == 0) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      for (;;) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, 10000) <= 0) break;
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        answer.append(buffer, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  return answer;
}

/// A server with /live and an async /block whose requests wait until release().
class ConnectionLimitsTest : public ::testing::Test {
 protected:
  void start(HttpServerOptions options) {
    server_ = std::make_unique<HttpServer>(std::move(options));
    server_->route("/live", [](const Request&) { return text("alive\n"); });
    server_->route_async("/block", [this](const Request&, Responder respond) {
      std::lock_guard lock(mutex_);
      parked_.push_back(std::move(respond));
    });
    server_->start();
  }
  void TearDown() override {
    release();
    if (server_) server_->stop();
  }
  std::size_t parked() {
    std::lock_guard lock(mutex_);
    return parked_.size();
  }
  void release() {
    std::vector<Responder> answers;
    {
      std::lock_guard lock(mutex_);
      answers.swap(parked_);
    }
    for (auto& respond : answers) respond(text("released\n"));
  }
  std::uint16_t port() const { return server_->port(); }

  /// `count` connections, each with a /block request the handler holds.
  std::vector<std::unique_ptr<Client>> busy(std::size_t count) {
    std::vector<std::unique_ptr<Client>> clients;
    const std::size_t before = parked();
    for (std::size_t i = 0; i < count; ++i) {
      clients.push_back(std::make_unique<Client>(port()));
      EXPECT_TRUE(clients.back()->send("GET /block HTTP/1.1\r\nHost: t\r\n\r\n"));
    }
    EXPECT_TRUE(eventually([&] { return parked() == before + count; }));
    return clients;
  }

  std::mutex mutex_;
  std::vector<Responder> parked_;
  std::unique_ptr<HttpServer> server_;  // declared last: stopped first
};

TEST_F(ConnectionLimitsTest, IdleFloodAboveTheCapClosesTheOldestIdleAndProbesKeepAnswering) {
  constexpr std::size_t kCap = 16;
  start(limited(kCap));
  std::vector<std::unique_ptr<Client>> flood;
  std::deque<std::size_t> alive;  // model: flood connections the server should still hold
  std::vector<bool> evicted;
  std::uint64_t evictions = 0;
  auto make_room = [&] {
    if (alive.size() < kCap) return;
    evicted[alive.front()] = true;
    alive.pop_front();
    ++evictions;
  };
  for (int round = 0; round < 12; ++round) {
    // The flood grows by 4 idle connections (they never send a byte) ...
    for (int i = 0; i < 4; ++i) {
      make_room();
      flood.push_back(std::make_unique<Client>(port()));
      alive.push_back(flood.size() - 1);
      evicted.push_back(false);
    }
    // ... and a probe on a fresh connection is still answered.
    make_room();
    const auto probe = testing::raw_get(port(), "/live");
    EXPECT_EQ(probe.status, 200) << "round " << round;
    EXPECT_EQ(probe.body, "alive\n");
    // Settled: the probe's connection and the evicted ones are gone.
    ASSERT_TRUE(eventually([&] { return server_->stats().connections_open == alive.size(); }))
        << "round " << round << ": open " << server_->stats().connections_open;
  }
  ASSERT_GT(flood.size(), 2 * kCap);
  for (std::size_t i = 0; i < flood.size(); ++i) {
    if (evicted[i])
      EXPECT_TRUE(flood[i]->closed_within(5s)) << "connection " << i << " should be closed";
    else
      EXPECT_FALSE(closed_now(*flood[i])) << "connection " << i << " should be open";
  }
  for (std::size_t i = 0; i < flood.size(); ++i)
    EXPECT_TRUE(flood[i]->pending().empty()) << "an idle connection is closed without a word";
  const auto stats = server_->stats();
  EXPECT_EQ(stats.connections_evicted_idle, evictions);
  EXPECT_EQ(stats.connections_evicted_stalled, 0u);
  EXPECT_EQ(stats.connections_rejected, 0u);
  EXPECT_EQ(stats.connections_accepted, flood.size() + 12);

  // A survivor (the newest flood connection) is still served normally.
  const auto served = flood.back()->get("/live");
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200);
}

TEST_F(ConnectionLimitsTest, KeptAliveConnectionsAreClosedInTheOrderTheyWentIdle) {
  start(limited(3));
  Client a(port());
  Client b(port());
  Client c(port());
  // Idle since their last response: c, then a, then b.
  ASSERT_TRUE(c.get("/live"));
  ASSERT_TRUE(a.get("/live"));
  ASSERT_TRUE(b.get("/live"));
  Client d(port());
  EXPECT_TRUE(c.closed_within(5s));
  Client e(port());
  EXPECT_TRUE(a.closed_within(5s));
  EXPECT_FALSE(closed_now(b));
  const auto response = b.get("/live");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(server_->stats().connections_evicted_idle, 2u);
}

TEST_F(ConnectionLimitsTest, AllBusyRefusesWith503AndCountsIt) {
  start(limited(4));
  auto holders = busy(4);
  Client refused(port());
  const auto response = refused.read_response(false, 5s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(refused.closed_within(5s));
  auto stats = server_->stats();
  EXPECT_EQ(stats.connections_rejected, 1u);
  EXPECT_EQ(stats.connections_evicted_idle, 0u);
  EXPECT_EQ(stats.connections_accepted, 4u);

  // Once the requests are answered, their connections are idle again: room for new ones.
  release();
  for (auto& holder : holders) {
    const auto released = holder->read_response();
    ASSERT_TRUE(released);
    EXPECT_EQ(released->status, 200);
  }
  const auto probe = testing::raw_get(port(), "/live");
  EXPECT_EQ(probe.status, 200);
  stats = server_->stats();
  EXPECT_EQ(stats.connections_rejected, 1u);
  EXPECT_EQ(stats.connections_evicted_idle, 1u);
}

TEST_F(ConnectionLimitsTest, ProbeReserveAnswersProbesWhenAllAreBusyAndRefusesTheRest) {
  auto options = limited(4);
  options.probe_reserve = 2;
  options.probe_paths = {"/live"};
  start(options);
  auto holders = busy(4);
  for (int i = 0; i < 3; ++i) {  // the reserve turns over: more probes than reserve places
    const auto probe = testing::raw_get(port(), "/live");
    EXPECT_EQ(probe.status, 200);
    EXPECT_EQ(probe.header("connection"), "close");
    ASSERT_TRUE(eventually([&] { return server_->stats().connections_open == 4; }));
  }
  Client other(port());
  const auto refused = other.get("/block");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_TRUE(other.closed_within(5s));
  EXPECT_EQ(parked(), 4u);  // the refused request never reached the handler
  const auto stats = server_->stats();
  EXPECT_EQ(stats.connections_rejected, 1u);
  EXPECT_EQ(stats.connections_accepted, 4u + 3u + 1u);
}

TEST_F(ConnectionLimitsTest, PerClientLimitClosesTheClientsOwnOldestIdleThenRefuses) {
  auto options = limited(16);
  options.max_connections_per_client = 3;
  start(options);
  Client first(port());
  Client second(port());
  Client third(port());
  Client fourth(port());  // over the limit: the client's oldest idle one makes room
  EXPECT_TRUE(first.closed_within(5s));
  EXPECT_FALSE(closed_now(second));
  EXPECT_EQ(server_->stats().connections_evicted_idle, 1u);
  ASSERT_TRUE(eventually([&] { return server_->stats().connections_open == 3; }));

  // The same client with all of its connections mid-request is refused, though the server
  // has room.
  second.close();
  third.close();
  fourth.close();
  ASSERT_TRUE(eventually([&] { return server_->stats().connections_open == 0; }));
  auto holders = busy(3);
  Client refused(port());
  const auto response = refused.read_response(false, 5s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->body, "too many connections from client\n");
  EXPECT_TRUE(refused.closed_within(5s));
  const auto stats = server_->stats();
  EXPECT_EQ(stats.connections_rejected_per_client, 1u);
  EXPECT_EQ(stats.connections_rejected, 0u);

  // Another address is another client.
  const std::string other = get_from("127.0.0.2", port(), "/live");
  EXPECT_TRUE(other.starts_with("HTTP/1.1 200 ")) << other;
}

// A connection whose request head is still arriving: a complete request first, so that its
// answer tells the test the server has read the partial one behind it (one worker thread).
std::unique_ptr<Client> stalled(std::uint16_t port) {
  auto client = std::make_unique<Client>(port);
  EXPECT_TRUE(client->send("GET /live HTTP/1.1\r\nHost: t\r\n\r\nGET /live HTTP/1.1\r\nHo"));
  EXPECT_TRUE(client->read_response());
  return client;
}

TEST_F(ConnectionLimitsTest, StalledRequestPastTheGraceIsClosedForRoom) {
  auto options = limited(3);
  options.stalled_request_grace = 0ms;
  start(options);
  auto slow1 = stalled(port());
  auto slow2 = stalled(port());
  auto slow3 = stalled(port());
  const auto probe = testing::raw_get(port(), "/live");
  EXPECT_EQ(probe.status, 200);
  EXPECT_TRUE(slow1->closed_within(5s));
  EXPECT_FALSE(closed_now(*slow3));
  const auto stats = server_->stats();
  EXPECT_EQ(stats.connections_evicted_stalled, 1u);
  EXPECT_EQ(stats.connections_evicted_idle, 0u);
  EXPECT_EQ(stats.timeouts, 0u);
}

TEST_F(ConnectionLimitsTest, StalledRequestWithinTheGraceIsNotClosedForRoom) {
  auto options = limited(3);
  options.stalled_request_grace = std::chrono::hours(1);
  start(options);
  auto slow1 = stalled(port());
  auto slow2 = stalled(port());
  auto slow3 = stalled(port());
  Client refused(port());
  const auto response = refused.read_response(false, 5s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_FALSE(closed_now(*slow1));
  // The stalled requests are still being read: completing one gets it answered.
  ASSERT_TRUE(slow1->send("st: t\r\n\r\n"));
  const auto completed = slow1->read_response();
  ASSERT_TRUE(completed);
  EXPECT_EQ(completed->status, 200);
  EXPECT_EQ(server_->stats().connections_evicted_stalled, 0u);
  EXPECT_EQ(server_->stats().connections_rejected, 1u);
}

TEST(ConnectionLimits, NewConnectionIsNotClosedForRoomBeforeTheServerCouldReadIt) {
  // Two threads take the connections in turn (0, 1, 0, ...). Thread 1 is held in a handler, so
  // a connection handed to it waits, its request unread, while thread 0 accepts another.
  auto options = limited(2);
  options.threads = 2;
  options.stalled_request_grace = std::chrono::hours(1);
  HttpServer server(options);
  std::mutex mutex;
  std::condition_variable wake;
  bool paused = false;
  bool resume = false;
  server.route("/live", [](const Request&) { return text("alive\n"); });
  server.route("/pause", [&](const Request&) {
    std::unique_lock lock(mutex);
    paused = true;
    wake.notify_all();
    wake.wait(lock, [&] { return resume; });
    return text("resumed\n");
  });
  server.start();
  auto let_go = [&] {
    std::lock_guard lock(mutex);
    resume = true;
    wake.notify_all();
  };
  // Also when an assertion ends the test early: stop() would wait for the held handler.
  const std::unique_ptr<void, std::function<void(void*)>> release_on_exit(&server,
                                                                          [&](void*) { let_go(); });

  Client idle(server.port());    // connection 0, thread 0
  Client pauser(server.port());  // connection 1, thread 1
  ASSERT_TRUE(pauser.send("GET /pause HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(wake.wait_for(lock, 10s, [&] { return paused; }));
  }
  // Connection 2 (thread 0) takes the idle one's place.
  EXPECT_EQ(testing::raw_get(server.port(), "/live").status, 200);
  EXPECT_TRUE(idle.closed_within(5s));
  ASSERT_TRUE(eventually([&] { return server.stats().connections_open == 1; }));

  Client probe(server.port());  // connection 3, thread 1: waits there with its request
  ASSERT_TRUE(probe.send("GET /live HTTP/1.1\r\nHost: t\r\n\r\n"));
  Client late(server.port());  // connection 4, thread 0: no idle place to take
  const auto refused = late.read_response(false, 5s);
  EXPECT_TRUE(refused && refused->status == 503);
  let_go();
  const auto answered = probe.read_response();
  ASSERT_TRUE(answered) << "the probe was closed before its request was read";
  EXPECT_EQ(answered->status, 200);
  EXPECT_EQ(server.stats().connections_rejected, 1u);
  server.stop();
}

TEST(ConnectionLimits, InvalidLimitOptionsAreConfigErrors) {
  auto options = limited(4);
  options.stalled_request_grace = -1ms;
  EXPECT_THROW(HttpServer(options).start(), ConfigError);
  options = limited(4);
  options.probe_paths = {"live"};
  EXPECT_THROW(HttpServer(options).start(), ConfigError);
}

// Several I/O threads share the admission state: connections on one thread are closed for
// room by the accept thread while others flood; the probes keep answering throughout.
TEST(ConnectionLimitsConcurrency, IdleFloodAcrossThreadsKeepsProbesAnswering) {
  auto options = limited(32);
  options.threads = 3;
  HttpServer server(options);
  server.route("/live", [](const Request&) { return text("alive\n"); });
  server.start();
  std::atomic<bool> done{false};
  std::atomic<int> flood_failures{0};
  std::vector<std::thread> flooders;
  for (int t = 0; t < 2; ++t) {
    flooders.emplace_back([&] {
      std::deque<std::unique_ptr<Client>> mine;
      while (!done.load()) {
        // Keep-alive connections left idle after one request: the answer also tells this
        // thread the server holds the connection before it opens the next.
        auto client = std::make_unique<Client>(server.port());
        if (!client->get("/live")) flood_failures.fetch_add(1);
        mine.push_back(std::move(client));
        if (mine.size() > 40) mine.pop_front();  // a flood that also lets some go
      }
    });
  }
  constexpr int kProbes = 200;
  int answered = 0;
  for (int i = 0; i < kProbes; ++i) {
    try {
      const auto probe = testing::raw_get(server.port(), "/live");
      if (probe.status == 200) ++answered;
    } catch (const std::exception& error) {
      ADD_FAILURE() << "probe " << i << ": " << error.what();
    }
  }
  done.store(true);
  for (auto& thread : flooders) thread.join();
  EXPECT_EQ(answered, kProbes);
  EXPECT_EQ(flood_failures.load(), 0);  // at most one connection per thread is mid-request
  const auto stats = server.stats();
  EXPECT_GT(stats.connections_evicted_idle, 0u);
  EXPECT_EQ(stats.connections_rejected, 0u);
  EXPECT_TRUE(eventually([&] { return server.stats().connections_open == 0; }));
  server.stop();
}

}  // namespace
}  // namespace monitoring::server
