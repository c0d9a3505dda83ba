#include "bot.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace demo {
namespace {

using monitoring::PrometheusMetrics;

monitoring::StructuredLogger& logger() {
  static monitoring::StructuredLogger logger("bot.handlers");
  return logger;
}

constexpr double kPeakUsers = 260;              // online at the busiest hour
constexpr double kUpdatesPerUserSecond = 0.08;  // messages and button presses per online user
constexpr double kCheckoutShare = 0.22;         // /buy that go on to pay
constexpr double kHandlerExceptionRate = 0.002;
constexpr int kDatabasePoolMin = 4, kDatabasePoolMax = 20;

// A few phrases users type, for the text handler to classify.
constexpr std::array<std::string_view, 6> kTexts = {
    "hi, how do I renew my subscription for another month?",
    "the vpn does not connect since this morning, please help",
    "can I pay with crypto? usdt or ton",
    "what is the price for a year",
    "I paid but the key did not arrive, order 10023",
    "thanks, everything works now",
};

/// The text handler's real work: a keyword classifier over the message (what a bot does
/// before it picks an answer). Returns an intent number.
int classify(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, int>, 8> kKeywords = {{
      {"renew", 1},
      {"price", 1},
      {"pay", 2},
      {"crypto", 2},
      {"connect", 3},
      {"help", 3},
      {"order", 4},
      {"thanks", 5},
  }};
  std::array<int, 6> score{};
  std::string lowered(text);
  std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  });
  for (const auto& [keyword, intent] : kKeywords)
    for (std::size_t at = lowered.find(keyword); at != std::string::npos;
         at = lowered.find(keyword, at + 1))
      ++score[static_cast<std::size_t>(intent)];
  return static_cast<int>(std::max_element(score.begin(), score.end()) - score.begin());
}

}  // namespace

/// One update from Telegram, from the webhook request to the bot's answer.
struct BotSimulation::Update {
  Handler handler;
  bool pays = false;  // a "pay" button press (callback_query) after /buy
  Plan plan = Plan::kMonth;
  std::optional<Span> webhook;       // http_request_duration_seconds{POST, /webhook}
  std::optional<Span> handler_time;  // bot_handler_duration_seconds{handler}
};

namespace {

std::string_view handler_name(int handler) {
  static constexpr std::array<std::string_view, 6> kNames = {"start", "help",           "profile",
                                                             "buy",   "callback_query", "text"};
  return kNames[static_cast<std::size_t>(handler)];
}

std::string_view message_type(int handler) {
  static constexpr std::array<std::string_view, 6> kTypes = {"command", "command",        "command",
                                                             "command", "callback_query", "text"};
  return kTypes[static_cast<std::size_t>(handler)];
}

}  // namespace

BotSimulation::BotSimulation(const DemoOptions& options)
    : options_(options),
      clock_(options.speed),
      scheduler_(io_),
      users_random_(options.seed, 1),
      updates_random_(options.seed, 2),
      handlers_random_(options.seed, 3),
      payments_random_(options.seed, 4),
      business_random_(options.seed, 5),
      business_(clock_, business_random_),
      panel_(scheduler_, handlers_random_),
      payments_(scheduler_, clock_, payments_random_, business_, panel_),
      // The decorator form: every call of the classifier is timed into
      // bot_handler_duration_seconds{handler="text"}.
      classify_text_(PrometheusMetrics::timed("bot_handler", {{"handler", "text"}}, classify)) {}

BotSimulation::~BotSimulation() {
  stop();
  wait();
}

void BotSimulation::start() {
  update_population();
  update_database_pool();
  business_.publish();
  payments_.start();

  scheduler_.every(1.0, [this] { update_population(); });
  scheduler_.every(1.0, [this] { update_database_pool(); });
  scheduler_.every(1.0, [this] { business_.expire(1.0); });
  scheduler_.every(5.0, [this] { business_.publish(); });
  scheduler_.every(15.0, [this] { panel_.sync_stats(); });
  scheduler_.every(30.0, [this] { print_summary(); });
  schedule_next_update();

  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { io_.run(); });
}

void BotSimulation::stop() noexcept {
  scheduler_.stop();
  io_.stop();  // pending payments and handlers are dropped, not finished early
}

void BotSimulation::wait() {
  for (std::thread& thread : threads_)
    if (thread.joinable()) thread.join();
  threads_.clear();
}

void BotSimulation::update_population() {
  // The daily curve plus a slow random drift, so no two minutes look the same.
  user_noise_ = 0.95 * user_noise_ + users_random_.normal(0, 4);
  const double users = std::max(3.0, kPeakUsers * diurnal(clock_.day_phase()) + user_noise_);
  active_users_.store(users);
  PrometheusMetrics::set_active_users(std::round(users));
}

void BotSimulation::update_database_pool() {
  // The pool opens connections as soon as work waits and closes idle ones one at a time.
  const int wanted = std::clamp(kDatabasePoolMin + 2 * database_in_flight_.load() +
                                    static_cast<int>(active_users_.load() / 50),
                                kDatabasePoolMin, kDatabasePoolMax);
  int open = database_open_.load();
  open = wanted > open ? wanted : std::max(wanted, open - 1);
  database_open_.store(open);
  PrometheusMetrics::set_database_connections(open);
}

void BotSimulation::schedule_next_update() {
  const double rate = std::max(0.01, active_users_.load() * kUpdatesPerUserSecond * clock_.speed());
  const double gap = updates_random_.exponential(rate);
  // Waits of more than a second are cut short and redrawn with the then-current rate (the
  // Poisson process is memoryless, so this stays exact while the rate follows the day).
  const bool arrives = gap <= 1.0;
  scheduler_.after(std::min(gap, 1.0), [this, arrives] {
    if (arrives) {
      static constexpr std::array<double, 6> kWeights = {0.10, 0.05, 0.15, 0.05, 0.30, 0.35};
      receive(static_cast<Handler>(updates_random_.pick(kWeights)));
    }
    schedule_next_update();
  });
}

void BotSimulation::receive(Handler handler, bool pays) {
  const int index = static_cast<int>(handler);
  // Each update is one request of one user: a "pay" press comes from the user who ran /buy
  // (whose context the scheduler carried here); anyone else is drawn from the user base.
  monitoring::ContextScope user;
  if (!pays || !monitoring::context::current().has_user()) {
    const auto id = static_cast<std::int64_t>(100000 + users_random_.uniform(0, 20000));
    user = monitoring::context::with_user(id, "user" + std::to_string(id));
  }
  auto request = monitoring::context::with_request_id();
  logger().debug("update received",
                 {{"handler", handler_name(index)}, {"message_type", message_type(index)}});
  PrometheusMetrics::increment_bot_messages(message_type(index));
  updates_.fetch_add(1);
  auto update = std::make_shared<Update>();
  update->handler = handler;
  update->pays = pays;
  update->webhook.emplace(
      PrometheusMetrics::track_time_async("http", {{"method", "POST"}, {"endpoint", "/webhook"}}));
  if (pays) {
    static constexpr std::array<double, 3> kPlanWeights = {0.6, 0.25, 0.15};
    update->plan = static_cast<Plan>(handlers_random_.pick(kPlanWeights));
  }
  boost::asio::post(io_, monitoring::context::bind([this, update] { handle(update); }));
}

void BotSimulation::handle(const std::shared_ptr<Update>& update) {
  const int index = static_cast<int>(update->handler);
  if (handlers_random_.chance(kHandlerExceptionRate)) {
    // A bug in a handler: the webhook answers 500 and Telegram will redeliver.
    try {
      throw std::out_of_range("subscription lookup: no plan for key 'trial_ext'");
    } catch (const std::exception&) {
      // Also counts errors_total{error_type="std::out_of_range", module=<this logger>}.
      logger().exception("handler failed", {{"handler", handler_name(index)}});
    }
    scheduler_.after(handlers_random_.lognormal(0.004, 0.5),
                     [this, update] { finish(update, 500); });
    return;
  }
  if (update->handler != Handler::kHelp && update->handler != Handler::kText)
    update->handler_time.emplace(PrometheusMetrics::track_time_async(
        "bot_handler", {{"handler", std::string(handler_name(index))}}));

  auto reply_then_finish = [this, update] { telegram([this, update] { finish(update, 200); }); };
  auto after_database = [this, update](std::function<void()> next) {
    database([this, update, next = std::move(next)](bool ok) {
      if (ok)
        next();
      else
        finish(update, 500);
    });
  };

  switch (update->handler) {
    case Handler::kStart:
      business_.record_visitor();
      after_database(reply_then_finish);
      break;
    case Handler::kHelp: {
      // Timed by hand, to show observe_bot_handler_duration beside track_time and timed.
      const auto started = std::chrono::steady_clock::now();
      telegram([this, update, started] {
        PrometheusMetrics::observe_bot_handler_duration(
            "help",
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        finish(update, 200);
      });
      break;
    }
    case Handler::kProfile:
      after_database([this, reply_then_finish] {
        panel_.call("/api/users", [reply_then_finish](bool) { reply_then_finish(); });
      });
      break;
    case Handler::kBuy:
      after_database([this, reply_then_finish] {
        panel_.call("/api/plans", [this, reply_then_finish](bool ok) {
          reply_then_finish();
          // Some users pick a plan and press "pay" after looking at the invoice.
          if (ok && handlers_random_.chance(kCheckoutShare))
            scheduler_.after(handlers_random_.uniform(3, 15),
                             [this] { receive(Handler::kCallbackQuery, true); });
        });
      });
      break;
    case Handler::kCallbackQuery:
      if (update->pays) {
        telegram([this, update] {  // answerCallbackQuery, then the payment runs on its own
          payments_.pay(payments_.choose(), update->plan);
          finish(update, 200);
        });
      } else {
        after_database(reply_then_finish);
      }
      break;
    case Handler::kText: {
      const auto text =
          kTexts[static_cast<std::size_t>(handlers_random_.uniform(0, kTexts.size())) %
                 kTexts.size()];
      if (classify_text_(text) == 0) {
        logger().info("intent not recognized", {{"text", text}});
        PrometheusMetrics::increment_errors("intent_not_recognized", "bot");
      }
      reply_then_finish();
      break;
    }
  }
}

void BotSimulation::finish(const std::shared_ptr<Update>& update, int status) {
  if (update->handler_time) update->handler_time->finish(status >= 500);
  if (update->webhook) update->webhook->finish(status >= 500);
  PrometheusMetrics::increment_http_requests("POST", "/webhook", status);
  logger().log(
      status < 500 ? monitoring::logging::Level::kDebug : monitoring::logging::Level::kError,
      status < 500 ? "update handled" : "update failed",
      std::initializer_list<monitoring::Field>{
          {"handler", handler_name(static_cast<int>(update->handler))}, {"status", status}});
}

void BotSimulation::database(std::function<void(bool ok)> done) {
  database_in_flight_.fetch_add(1);
  const bool times_out = handlers_random_.chance(0.001);
  const double latency = times_out ? 1.0 : handlers_random_.lognormal(0.006, 0.6);
  scheduler_.after(latency, [this, times_out, done = std::move(done)] {
    database_in_flight_.fetch_sub(1);
    if (times_out) {
      logger().warning("database query timed out", {{"timeout_seconds", 1.0}});
      PrometheusMetrics::increment_errors("db_timeout", "database");
    }
    done(!times_out);
  });
}

void BotSimulation::telegram(std::function<void()> done) {
  // Telegram's flood control answers 429 now and then; the bot waits retry_after and resends.
  if (handlers_random_.chance(0.005)) {
    logger().warning("telegram flood control, resending", {{"retry_after_seconds", 1}});
    PrometheusMetrics::increment_errors("telegram_rate_limited", "bot");
    scheduler_.after(1.0, [this, done = std::move(done)]() mutable { telegram(std::move(done)); });
    return;
  }
  scheduler_.after(handlers_random_.lognormal(0.07, 0.5), std::move(done));
}

void BotSimulation::print_summary() const {
  const long seconds = static_cast<long>(clock_.real_elapsed());
  const auto& providers = payments_.providers();
  std::printf(
      "[demo] %ldm%02lds: %.0f users online, %ld subscriptions, %ld updates, payments %ld ok / %ld "
      "failed, "
      "%s %s, %s %s\n",
      seconds / 60, seconds % 60, active_users_.load(), business_.active_subscriptions(),
      updates_.load(), payments_.succeeded(), payments_.failed(), providers[0].name.c_str(),
      providers[0].up.load() ? "up" : "DOWN", providers[1].name.c_str(),
      providers[1].up.load() ? "up" : "DOWN");
  std::fflush(stdout);
}

}  // namespace demo
