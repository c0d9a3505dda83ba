#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "monitoring/server/http_server.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"

namespace monitoring::server {
namespace {

using namespace std::chrono_literals;
using testing::Client;

HttpServerOptions local_options(unsigned threads) {
  HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.threads = threads;
  return options;
}

Response text(std::string body) {
  Response response;
  response.body = std::move(body);
  return response;
}

TEST(HttpServerConcurrency, ManyClientsManyRequestsExactCount) {
  constexpr int kClients = 8;
  constexpr int kRequests = 200;
  std::atomic<int> handled{0};
  HttpServer server(local_options(2));
  server.route("/count", [&](const Request&) {
    handled.fetch_add(1, std::memory_order_relaxed);
    return text("ok");
  });
  server.start();
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      // Half keep one connection, half reconnect every 10 requests.
      std::unique_ptr<Client> client;
      for (int i = 0; i < kRequests; ++i) {
        if (!client || (c % 2 == 1 && i % 10 == 0))
          client = std::make_unique<Client>(server.port());
        const auto response = client->get("/count?i=" + std::to_string(i));
        if (response && response->status == 200 && response->body == "ok") good.fetch_add(1);
      }
    });
  }
  for (auto& thread : clients) thread.join();
  EXPECT_EQ(good.load(), kClients * kRequests);
  EXPECT_EQ(handled.load(), kClients * kRequests);
  EXPECT_EQ(server.stats().requests, static_cast<std::uint64_t>(kClients * kRequests));
  EXPECT_EQ(server.stats().connections_accepted,
            static_cast<std::uint64_t>(kClients / 2 + (kClients / 2) * (kRequests / 10)));
}

// Async answers come from a pool of other threads, in any order, some inline.
TEST(HttpServerConcurrency, AsyncAnswersFromOtherThreads) {
  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::pair<Responder, std::string>> queue;
  bool done = false;
  std::vector<std::thread> pool;
  for (int i = 0; i < 3; ++i) {
    pool.emplace_back([&] {
      for (;;) {
        std::unique_lock lock(mutex);
        wake.wait(lock, [&] { return done || !queue.empty(); });
        if (queue.empty()) return;
        auto [respond, query] = std::move(queue.front());
        queue.pop_front();
        lock.unlock();
        respond(text("async:" + query));
      }
    });
  }
  HttpServer server(local_options(2));
  server.route_async("/async", [&](const Request& request, Responder respond) {
    if (request.query.ends_with("0")) {
      respond(text("async:" + std::string(request.query)));
      return;
    }
    std::lock_guard lock(mutex);
    queue.emplace_back(std::move(respond), std::string(request.query));
    wake.notify_one();
  });
  server.start();
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 6; ++c) {
    clients.emplace_back([&, c] {
      Client client(server.port());
      for (int i = 0; i < 100; ++i) {
        const std::string query = std::to_string(c) + "-" + std::to_string(i);
        const auto response = client.get("/async?" + query);
        if (response && response->body == "async:" + query) good.fetch_add(1);
      }
    });
  }
  for (auto& thread : clients) thread.join();
  EXPECT_EQ(good.load(), 600);
  server.stop();
  {
    std::lock_guard lock(mutex);
    done = true;
  }
  wake.notify_all();
  for (auto& thread : pool) thread.join();
}

TEST(HttpServerConcurrency, RoutesAddedWhileServing) {
  HttpServer server(local_options(2));
  server.route("/base", [](const Request&) { return text("base"); });
  server.start();
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread client_thread([&] {
    Client client(server.port());
    while (!stop.load()) {
      const auto response = client.get("/base");
      if (!response || response->body != "base") failures.fetch_add(1);
    }
  });
  for (int i = 0; i < 50; ++i)
    server.route("/r" + std::to_string(i), [i](const Request&) { return text(std::to_string(i)); });
  Client client(server.port());
  for (int i = 0; i < 50; ++i) {
    const auto response = client.get("/r" + std::to_string(i));
    ASSERT_TRUE(response);
    EXPECT_EQ(response->body, std::to_string(i));
  }
  stop.store(true);
  client_thread.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(HttpServerConcurrency, StopWhileClientsHammer) {
  HttpServer server(local_options(2));
  server.route("/x", [](const Request&) { return text("x"); });
  server.start();
  const std::uint16_t port = server.port();
  std::atomic<bool> stop{false};
  std::atomic<int> served{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      while (!stop.load()) {
        try {
          Client client(port);
          for (int i = 0; i < 20 && !stop.load(); ++i) {
            const auto response = client.get("/x");
            if (!response) break;
            served.fetch_add(1);
          }
        } catch (const std::exception&) {
          // Connect refused once the server is gone: retry until the test says stop, without
          // spinning on the core the server needs.
          std::this_thread::sleep_for(1ms);
        }
      }
    });
  }
  ASSERT_TRUE(testing::eventually([&] { return served.load() > 200; }, 10s));
  const auto started = std::chrono::steady_clock::now();
  server.stop(1s);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_FALSE(server.running());
  stop.store(true);
  for (auto& thread : clients) thread.join();
  EXPECT_EQ(server.stats().connections_open, 0u);
}

}  // namespace
}  // namespace monitoring::server
