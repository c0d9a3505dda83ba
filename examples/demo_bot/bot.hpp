#pragma once

// The simulated 2GETPRO Telegram bot: users coming and going over a compressed day, the
// updates they send through the webhook, the handlers that answer them, and the payments,
// panel calls and database work those handlers cause.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "business.hpp"
#include "options.hpp"
#include "payments.hpp"
#include "random.hpp"
#include "runtime.hpp"

namespace demo {

/// The whole simulation. start() schedules it on a thread pool; stop() (any thread, once or
/// more) lets it wind down; wait() joins the pool.
class BotSimulation {
 public:
  explicit BotSimulation(const DemoOptions& options);
  ~BotSimulation();
  BotSimulation(const BotSimulation&) = delete;
  BotSimulation& operator=(const BotSimulation&) = delete;

  void start();
  void stop() noexcept;
  void wait();

  boost::asio::io_context& io() noexcept { return io_; }
  Scheduler& scheduler() noexcept { return scheduler_; }
  /// A one-line summary for the console.
  void print_summary() const;

 private:
  enum class Handler { kStart, kHelp, kProfile, kBuy, kCallbackQuery, kText };
  static constexpr int kDatabasePoolStart = 4;
  struct Update;

  void update_population();
  void schedule_next_update();
  void receive(Handler handler, bool pays = false);
  void handle(const std::shared_ptr<Update>& update);
  void finish(const std::shared_ptr<Update>& update, int status);

  void database(std::function<void(bool ok)> done);
  void telegram(std::function<void()> done);
  void update_database_pool();

  DemoOptions options_;
  boost::asio::io_context io_;
  SimClock clock_;
  Scheduler scheduler_;
  Random users_random_, updates_random_, handlers_random_, payments_random_, business_random_;
  Business business_;
  PanelApi panel_;
  Payments payments_;
  std::function<int(std::string_view)> classify_text_;  // the text handler, timed per call

  std::atomic<double> active_users_{0};
  double user_noise_ = 0;  // only touched by update_population (one timer chain)
  std::atomic<int> database_in_flight_{0};
  std::atomic<int> database_open_{kDatabasePoolStart};
  std::atomic<long> updates_{0};
  std::atomic<std::uint64_t> next_user_id_{100000};

  std::vector<std::thread> threads_;
};

}  // namespace demo
