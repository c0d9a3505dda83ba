// Dependency faults against real servers: PostgreSQL and Redis (started with a password by
// tests/fixtures) stopped, frozen with SIGSTOP and restarted on the same port; an HTTP peer that
// accepts and never answers; and Sentry delivery through an ingest peer that is down, then fails,
// then rate-limits, then accepts.
//
// Every wait is bounded: checks run with a 1 s timeout (a few direct calls with 2.5 s),
// recoveries and deliveries are polled with a deadline. The whole file takes about 30 s.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration/fixture.hpp"
#include "monitoring/health.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"
#include "monitoring/sentry.hpp"
#include "net/http_client.hpp"
#include "sentry/client.hpp"
#include "support/json_reader.hpp"
#include "support/local_http_peer.hpp"

namespace monitoring {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using health::CheckContext;
using health::CheckOptions;
using health::CheckResult;
using health::HealthChecker;
using health::HealthReport;
using health::Status;
using testing::Fixture;

// URL-special characters on purpose: the pieces between them must not leak either.
constexpr std::string_view kRedisPassword = "Qz7-kR9:wX2@pL5v!";
constexpr std::string_view kPgPassword = "Pg7!mN4:zQ8@tY3w/Hb6";

constexpr auto kTimeout = 1000ms;
// How much later than its timeout a check call may return on a shared 2-core machine (the
// target is 100 ms; the slack absorbs scheduling noise, not a hang).
constexpr auto kMargin = 600ms;
// A longer deadline, for what a coarse kernel timer would make late.
constexpr auto kLongTimeout = 2500ms;

/// Checks `text` for the password and every 6-character piece of it.
void expect_no_password(const std::string& text, std::string_view password) {
  EXPECT_EQ(text.find(password), std::string::npos) << text;
  for (std::size_t at = 0; at + 6 <= password.size(); ++at)
    EXPECT_EQ(text.find(password.substr(at, 6)), std::string::npos)
        << "piece '" << password.substr(at, 6) << "' in: " << text;
}

CheckOptions fault_options(bool critical = true) {
  CheckOptions options;
  options.timeout = kTimeout;
  options.cache_ttl = 0ms;  // every check() runs the check
  options.critical = critical;
  return options;
}

health::CheckerOptions no_metrics() {
  health::CheckerOptions options;
  options.export_metrics = false;
  return options;
}

struct TimedReport {
  HealthReport report;
  Clock::duration elapsed;
  std::string json;

  const health::CheckOutcome& only() const { return report.checks.at(0); }
};

TimedReport run(const HealthChecker& checker) {
  const auto start = Clock::now();
  HealthReport report = checker.check();
  TimedReport out{std::move(report), Clock::now() - start, {}};
  out.json = health::to_json(out.report);
  return out;
}

/// Shows a verdict in the test log (what an operator would read in /health).
void show(std::string_view what, const TimedReport& result) {
  std::cout << "  " << what << ": " << to_string(result.report.status) << " after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(result.elapsed).count()
            << " ms: " << result.report.checks.at(0).message << "\n";
}

/// Runs a check function on this thread with a `timeout` deadline: the check itself must come
/// back by then (so no abandoned run keeps an executor thread), with its own reason.
CheckResult call_directly(const health::CheckFunction& check, Clock::duration& elapsed,
                          Clock::duration timeout = kTimeout) {
  const auto start = Clock::now();
  CheckResult result;
  try {
    result = check(CheckContext{start + timeout});
  } catch (const std::exception& error) {  // postgres_check reports failures by throwing
    result = CheckResult::unhealthy(error.what());
  }
  elapsed = Clock::now() - start;
  expect_no_password(result.message, kRedisPassword);
  expect_no_password(result.message, kPgPassword);
  std::cout << "  called directly: " << to_string(result.status) << " after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
            << " ms: " << result.message << "\n";
  return result;
}

bool eventually_healthy(const HealthChecker& checker, std::string_view password) {
  return testing::eventually(
      [&] {
        TimedReport result = run(checker);
        expect_no_password(result.json, password);
        return result.report.status == Status::healthy;
      },
      20s, 100ms);
}

/// SIGSTOP now, SIGCONT when it goes away (also when an assertion returned early).
class Frozen {
 public:
  explicit Frozen(pid_t pid) : pid_(pid) {
    if (::kill(pid_, SIGSTOP) != 0) throw std::runtime_error("SIGSTOP failed");
  }
  ~Frozen() { thaw(); }
  Frozen(const Frozen&) = delete;
  Frozen& operator=(const Frozen&) = delete;
  void thaw() {
    if (pid_ > 0) ::kill(pid_, SIGCONT);
    pid_ = -1;
  }

 private:
  pid_t pid_;
};

// ---------------------------------------------------------------------------------------------
// Redis

std::string redis_url(int port) {
  return "redis://:" + common::percent_encode(kRedisPassword) +
         "@127.0.0.1:" + std::to_string(port) + "/1";
}

TEST(DependencyFaults, RedisStoppedFrozenAndRestartedOnTheSamePort) {
  auto redis = std::make_unique<Fixture>("redis.sh", "--password", std::string(kRedisPassword));
  const int port = redis->port();
  const std::string endpoint = "127.0.0.1:" + std::to_string(port);
  HealthChecker checker(no_metrics());
  checker.add_check("redis", health::redis_check(redis_url(port)), fault_options());

  TimedReport up = run(checker);
  ASSERT_EQ(up.report.status, Status::healthy) << up.json;
  EXPECT_EQ(up.only().message, "ok (PONG from " + endpoint + ")");

  {
    SCOPED_TRACE("frozen");
    Frozen frozen(redis->pid());
    // The kernel still accepts the connection; nobody answers AUTH.
    TimedReport hung = run(checker);
    show("frozen", hung);
    EXPECT_EQ(hung.report.status, Status::unhealthy) << hung.json;
    EXPECT_LT(hung.elapsed, kTimeout + kMargin);
    EXPECT_GE(hung.elapsed, kTimeout - 100ms);
    const std::string& message = hung.only().message;
    EXPECT_TRUE(message.find("timed out") != std::string::npos ||
                message.find("timeout") != std::string::npos)
        << message;
    EXPECT_EQ(message.find("refused"), std::string::npos) << message;
    expect_no_password(hung.json, kRedisPassword);
    // Asked again while still frozen: the same bounded answer, not a hang.
    TimedReport again = run(checker);
    EXPECT_EQ(again.report.status, Status::unhealthy);
    EXPECT_LT(again.elapsed, kTimeout + kMargin);
    Clock::duration elapsed{};
    CheckResult direct = call_directly(health::redis_check(redis_url(port)), elapsed);
    EXPECT_EQ(direct.status, Status::unhealthy);
    EXPECT_EQ(direct.message, "AUTH failed: timed out");
    EXPECT_LT(elapsed, kTimeout + kMargin);
    // Back by its deadline also for longer waits: socket timeouts (SO_RCVTIMEO) run on the
    // kernel's timer wheel, which rounds a wait of over 2 s up by as much as 256 ms (HZ=250).
    for (int i = 0; i < 2; ++i) {
      CheckResult longer =
          call_directly(health::redis_check(redis_url(port)), elapsed, kLongTimeout);
      EXPECT_EQ(longer.message, "AUTH failed: timed out");
      EXPECT_LT(elapsed, kLongTimeout + 30ms);
    }
    frozen.thaw();
    EXPECT_TRUE(eventually_healthy(checker, kRedisPassword)) << "no recovery after SIGCONT";
  }

  {
    SCOPED_TRACE("stopped");
    redis->stop();
    TimedReport down = run(checker);
    show("stopped", down);
    EXPECT_EQ(down.report.status, Status::unhealthy) << down.json;
    EXPECT_LT(down.elapsed, kTimeout + kMargin);
    EXPECT_EQ(down.only().message, "connection to " + endpoint + " failed: Connection refused");
    expect_no_password(down.json, kRedisPassword);
  }

  {
    SCOPED_TRACE("restarted");
    auto restarted = std::make_unique<Fixture>(
        "redis.sh", "--password", std::string(kRedisPassword), "--port", std::to_string(port));
    EXPECT_TRUE(eventually_healthy(checker, kRedisPassword)) << "no recovery after restart";
    EXPECT_EQ(run(checker).only().message, "ok (PONG from " + endpoint + ")");
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

std::string postgres_url(int port) {
  return "postgresql://postgres:" + common::percent_encode(kPgPassword) +
         "@127.0.0.1:" + std::to_string(port) + "/postgres";
}

TEST(DependencyFaults, PostgresStoppedFrozenAndRestartedOnTheSamePort) {
  auto postgres = std::make_unique<Fixture>("postgres.sh", "--password", std::string(kPgPassword));
  const int port = postgres->port();
  ASSERT_EQ(postgres->value("URL"), postgres_url(port));
  HealthChecker checker(no_metrics());
  checker.add_check("database", health::postgres_check(postgres_url(port)), fault_options());

  TimedReport up = run(checker);
  ASSERT_EQ(up.report.status, Status::healthy) << up.json;
  EXPECT_EQ(up.only().message.rfind("ok (PostgreSQL 15.", 0), 0u) << up.only().message;

  {
    SCOPED_TRACE("frozen");
    // The postmaster: the kernel queues the connection, nobody forks a backend to answer it.
    Frozen frozen(postgres->pid());
    TimedReport hung = run(checker);
    show("frozen", hung);
    EXPECT_EQ(hung.report.status, Status::unhealthy) << hung.json;
    EXPECT_LT(hung.elapsed, kTimeout + kMargin);
    EXPECT_GE(hung.elapsed, kTimeout - 100ms);
    const std::string& message = hung.only().message;
    EXPECT_NE(message.find("timeout"), std::string::npos) << message;
    EXPECT_EQ(message.find("refused"), std::string::npos) << message;
    expect_no_password(hung.json, kPgPassword);
    TimedReport again = run(checker);
    EXPECT_EQ(again.report.status, Status::unhealthy);
    EXPECT_LT(again.elapsed, kTimeout + kMargin);
    Clock::duration elapsed{};
    CheckResult direct = call_directly(health::postgres_check(postgres_url(port)), elapsed);
    EXPECT_EQ(direct.status, Status::unhealthy);
    EXPECT_EQ(direct.message, "timeout while connecting");
    EXPECT_LT(elapsed, kTimeout + kMargin);
    CheckResult longer =
        call_directly(health::postgres_check(postgres_url(port)), elapsed, kLongTimeout);
    EXPECT_EQ(longer.message, "timeout while connecting");
    EXPECT_LT(elapsed, kLongTimeout + 30ms);
    frozen.thaw();
    EXPECT_TRUE(eventually_healthy(checker, kPgPassword)) << "no recovery after SIGCONT";
  }

  {
    SCOPED_TRACE("stopped");
    postgres->stop();
    TimedReport down = run(checker);
    show("stopped", down);
    EXPECT_EQ(down.report.status, Status::unhealthy) << down.json;
    EXPECT_LT(down.elapsed, kTimeout + kMargin);
    const std::string& message = down.only().message;
    EXPECT_NE(message.find("Connection refused"), std::string::npos) << message;
    EXPECT_NE(message.find("port " + std::to_string(port)), std::string::npos) << message;
    expect_no_password(down.json, kPgPassword);
  }

  {
    SCOPED_TRACE("restarted");
    auto restarted = std::make_unique<Fixture>(
        "postgres.sh", "--password", std::string(kPgPassword), "--port", std::to_string(port));
    EXPECT_TRUE(eventually_healthy(checker, kPgPassword)) << "no recovery after restart";
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP peer that accepts and never answers

TEST(DependencyFaults, HttpPeerThatAcceptsAndNeverAnswersTimesOutWithAnAccurateMessage) {
  testing::LocalHttpPeer silent([](const testing::RecordedRequest&) {
    return testing::CannedAnswer{{}, true};
  });
  const std::string refused_url =
      "http://127.0.0.1:" + std::to_string(testing::closed_loopback_port()) + "/health";
  const std::string silent_url = silent.url("/health");

  // One thread, as a checker's executor thread runs one check after another: a refused
  // connection first, then the peer that accepted and never answered. The second message must
  // describe the timeout only, with nothing left over from the first failure.
  CheckResult refused = health::panel_check(refused_url)(CheckContext{Clock::now() + kTimeout});
  EXPECT_EQ(refused.status, Status::unhealthy);
  EXPECT_NE(refused.message.find("Connection refused"), std::string::npos) << refused.message;

  const auto start = Clock::now();
  CheckResult hung = health::panel_check(silent_url)(CheckContext{start + kTimeout});
  const auto elapsed = Clock::now() - start;
  std::cout << "  refused: " << refused.message << "\n  then silent: " << hung.message << "\n";
  EXPECT_EQ(hung.status, Status::unhealthy);
  EXPECT_LT(elapsed, kTimeout + kMargin);
  EXPECT_GE(elapsed, kTimeout - 100ms);
  EXPECT_NE(hung.message.find("timed out"), std::string::npos) << hung.message;
  EXPECT_NE(hung.message.find(silent_url), std::string::npos) << hung.message;
  EXPECT_EQ(hung.message.find("refused"), std::string::npos) << hung.message;
  EXPECT_EQ(hung.message.find("Connection"), std::string::npos) << hung.message;
  EXPECT_GE(silent.requests().size(), 1u);  // it did accept and read the request

  // The client underneath, on this same thread: a refused request, then the silent peer.
  common::HttpRequest request;
  request.timeout = 500ms;
  request.url = refused_url;
  try {
    common::http_request(request);
    ADD_FAILURE() << "a closed port answered";
  } catch (const common::HttpTransportError& error) {
    EXPECT_EQ(error.kind(), common::HttpTransportError::Kind::kConnect) << error.what();
  }
  request.url = silent_url;
  try {
    common::http_request(request);
    ADD_FAILURE() << "the silent peer answered";
  } catch (const common::HttpTransportError& error) {
    EXPECT_EQ(error.kind(), common::HttpTransportError::Kind::kTimeout) << error.what();
    EXPECT_EQ(std::string(error.what()).find("refused"), std::string::npos) << error.what();
  }

  // Through a checker, next to a check that stays healthy: degraded, within the timeout.
  HealthChecker checker(no_metrics());
  checker.add_check("panel", health::panel_check(silent_url), fault_options(/*critical=*/false));
  checker.add_check("refused", health::panel_check(refused_url), fault_options(false));
  checker.add_check(
      "neighbour", [] {}, fault_options());
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    TimedReport report = run(checker);
    EXPECT_EQ(report.report.status, Status::degraded) << report.json;
    EXPECT_LT(report.elapsed, kTimeout + kMargin);
    const auto& panel = report.report.checks.at(0);
    EXPECT_EQ(panel.status, Status::unhealthy);
    EXPECT_TRUE(panel.message.find("timed out") != std::string::npos ||
                panel.message.find("timeout") != std::string::npos)
        << panel.message;
    EXPECT_EQ(panel.message.find("refused"), std::string::npos) << panel.message;
    EXPECT_NE(report.report.checks.at(1).message.find("refused"), std::string::npos);
    EXPECT_EQ(report.report.checks.at(2).status, Status::healthy);
  }
}

// ---------------------------------------------------------------------------------------------
// Sentry delivery: down, 500, 429, 200

/// A Sentry ingest endpoint whose behaviour the test switches: down (the port is bound but not
/// listening, so connections are refused), then answering every request with 500, 429 or 200.
/// One connection at a time, each answer closes it. Records every request it answered.
class PhasedIngest {
 public:
  /// k429 sends Retry-After and X-Sentry-Rate-Limits (error category only), k429RetryAfter only
  /// Retry-After (every category).
  /// kSilent reads the request and never answers (until the client hangs up).
  enum class Mode { k500, k429, k429RetryAfter, k200, kSilent };
  static constexpr int kRetryAfterSeconds = 1;

  struct Request {
    int status = 0;
    Clock::time_point answered_at;
    std::string event_id;  // from the envelope header ("" for a client report)
    std::vector<std::pair<std::string, test_json::Value>> items;  // (type, payload)
  };

  PhasedIngest() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (listen_fd_ < 0 ||
        ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
        ::pipe2(wake_, O_CLOEXEC) != 0)
      throw std::runtime_error("PhasedIngest: cannot bind");
    port_ = ntohs(address.sin_port);
  }
  ~PhasedIngest() {
    stopping_ = true;
    char byte = 0;
    [[maybe_unused]] ssize_t ignored = ::write(wake_[1], &byte, 1);
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  PhasedIngest(const PhasedIngest&) = delete;
  PhasedIngest& operator=(const PhasedIngest&) = delete;

  std::string dsn() const {
    return "http://0123456789abcdef0123456789abcdef@127.0.0.1:" + std::to_string(port_) + "/42";
  }

  /// Starts listening on the port that refused connections so far.
  void open(Mode mode) {
    set_mode(mode);
    if (::listen(listen_fd_, 64) != 0) throw std::runtime_error("PhasedIngest: listen");
    thread_ = std::thread([this] { serve(); });
  }
  void set_mode(Mode mode) { mode_ = mode; }
  /// The next `count` requests get 500 whatever the mode.
  void fail_next(int count) { fail_next_ = count; }

  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  /// When the last 429 went out (the epoch when none did).
  Clock::time_point last_429() const {
    Clock::time_point last{};
    for (const Request& request : requests())
      if (request.status == 429) last = std::max(last, request.answered_at);
    return last;
  }

 private:
  // Waits (bounded) until `fd` is readable; false on timeout or when stopping.
  bool readable(int fd, int timeout_ms) const {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int rc;
    while ((rc = ::poll(fds, 2, timeout_ms)) < 0 && errno == EINTR) {
    }
    return rc > 0 && (fds[1].revents & POLLIN) == 0 && fds[0].revents != 0;
  }

  void serve() {
    while (!stopping_) {
      if (!readable(listen_fd_, 100)) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      handle(fd);
      ::close(fd);
    }
  }

  void handle(int fd) {
    std::string buffer;
    std::size_t header_end;
    auto read_more = [&] {
      char chunk[16384];
      if (!readable(fd, 5000)) return false;
      const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<std::size_t>(n));
      return true;
    };
    while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos)
      if (!read_more()) return;
    std::string head = buffer.substr(0, header_end);
    for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t content_length = 0;
    if (const std::size_t at = head.find("\r\ncontent-length:"); at != std::string::npos)
      content_length = std::stoul(head.substr(at + 17, head.find("\r\n", at + 2) - at - 17));
    buffer.erase(0, header_end + 4);
    while (buffer.size() < content_length)
      if (!read_more()) return;

    Request request = parse(buffer.substr(0, content_length));
    std::string answer;
    const Mode mode = fail_next_.fetch_sub(1) > 0 ? Mode::k500 : mode_.load();
    if (mode == Mode::kSilent) {
      request.answered_at = Clock::now();
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(std::move(request));
      }
      // Hold the connection until the client gives up on it (bounded, in case it never does).
      char chunk[4096];
      for (int waited = 0; waited < 30 && readable(fd, 1000) == false; ++waited) {
        if (stopping_) return;
      }
      while (::recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT) > 0) {
      }
      return;
    }
    switch (mode) {
      case Mode::k500:
        request.status = 500;
        answer = testing::http_answer(500, "Internal Server Error", "{}", {}, true);
        break;
      case Mode::k429:
        request.status = 429;
        answer = testing::http_answer(
            429, "Too Many Requests", "{}",
            {{"Retry-After", std::to_string(kRetryAfterSeconds)},
             {"X-Sentry-Rate-Limits", std::to_string(kRetryAfterSeconds) + ":error:key"}},
            true);
        break;
      case Mode::k429RetryAfter:
        request.status = 429;
        answer = testing::http_answer(429, "Too Many Requests", "{}",
                                      {{"Retry-After", std::to_string(kRetryAfterSeconds)}}, true);
        break;
      case Mode::kSilent:  // handled above
      case Mode::k200:
        request.status = 200;
        answer = testing::http_answer(200, "OK", "{\"id\":\"" + request.event_id + "\"}", {}, true);
        break;
    }
    request.answered_at = Clock::now();
    {
      // Recorded before the answer leaves: whoever sees the answer sees the record.
      std::lock_guard lock(mutex_);
      requests_.push_back(std::move(request));
    }
    std::string_view rest = answer;
    while (!rest.empty()) {
      const ssize_t n = ::send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n <= 0) break;
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // "header\n(item header\npayload\n)*" with lengths in the item headers (gzip is off).
  static Request parse(const std::string& body) {
    Request request;
    std::size_t pos = body.find('\n');
    const test_json::Value header = test_json::parse(body.substr(0, pos));
    if (header.is_object() && header.has("event_id")) request.event_id = header["event_id"].string;
    pos = pos == std::string::npos ? body.size() : pos + 1;
    while (pos < body.size()) {
      const std::size_t end = body.find('\n', pos);
      const test_json::Value item = test_json::parse(body.substr(pos, end - pos));
      pos = end + 1;
      const auto length = static_cast<std::size_t>(item["length"].number);
      request.items.emplace_back(item["type"].string, test_json::parse(body.substr(pos, length)));
      pos += length + 1;
    }
    return request;
  }

  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  int port_ = 0;
  std::atomic<Mode> mode_{Mode::k500};
  std::atomic<int> fail_next_{0};
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
  std::thread thread_;
};

/// monitoring_sentry_events_dropped_total summed over every reason, for category "error".
double dropped_errors_metric() {
  const std::string text = metrics::serialize(metrics::Registry::default_registry());
  double total = 0;
  std::size_t at = 0;
  while ((at = text.find("\nmonitoring_sentry_events_dropped_total{", at)) != std::string::npos) {
    const std::size_t end = text.find('\n', at + 1);
    const std::string line = text.substr(at + 1, end - at - 1);
    at = end;
    if (line.find("category=\"error\"") == std::string::npos) continue;
    total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

std::size_t files_in(const std::filesystem::path& dir, std::string_view extension) {
  std::size_t count = 0;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error))
    count += entry.path().extension() == extension;
  return count;
}

class SentryDeliveryFaults : public ::testing::Test {
 protected:
  void TearDown() override {
    sentry::close(2s);
    std::filesystem::remove_all(cache_dir_);
  }
  const std::filesystem::path cache_dir_ =
      std::filesystem::temp_directory_path() /
      ("monitoring-faults-sentry-" + std::to_string(::getpid()));
};

TEST_F(SentryDeliveryFaults, EveryEventIsDeliveredOnceOrCountedAsLost) {
  constexpr int kPerPhase = 5;
  std::filesystem::remove_all(cache_dir_);
  PhasedIngest ingest;
  sentry::Options options;
  options.dsn = ingest.dsn();
  options.environment = "test";
  options.capture_logs = false;
  options.crash_handler = false;
  options.gzip = false;
  options.max_retries = 2;
  options.retry_backoff = 20ms;
  options.http_timeout = 2000ms;
  options.cache_dir = cache_dir_.string();
  const double dropped_metric_before = dropped_errors_metric();

  std::map<std::string, std::vector<std::string>> ids;  // by phase
  std::vector<std::string> all_ids;
  auto capture_phase = [&](const std::string& phase) {
    for (int i = 0; i < kPerPhase; ++i) {
      std::string id = sentry::capture_message(
          "fault test, phase " + phase + " #" + std::to_string(i), sentry::Level::kError);
      ASSERT_EQ(id.size(), 32u) << phase << " #" << i;
      ids[phase].push_back(id);
      all_ids.push_back(id);
    }
    ASSERT_TRUE(sentry::flush(15s)) << phase;
  };

  sentry::init(options);
  // Down: nothing listens. Each event is tried 1 + max_retries times, then cached.
  capture_phase("down");
  EXPECT_EQ(sentry::stats().cached, 5u);
  EXPECT_EQ(files_in(cache_dir_, ".envelope"), 5u);

  // Up, answering 500: retried, then cached too.
  ingest.open(PhasedIngest::Mode::k500);
  capture_phase("500");
  EXPECT_EQ(sentry::stats().cached, 10u);
  EXPECT_EQ(sentry::stats().retries, 20u);
  {
    std::map<std::string, int> attempts;
    for (const auto& request : ingest.requests()) ++attempts[request.event_id];
    for (const auto& id : ids["500"]) EXPECT_EQ(attempts[id], 3) << id;
  }

  // 429 with Retry-After and X-Sentry-Rate-Limits: dropped and counted, not retried.
  ingest.set_mode(PhasedIngest::Mode::k429);
  capture_phase("429");
  EXPECT_EQ(sentry::stats().dropped, 5u);
  EXPECT_EQ(sentry::stats().rate_limited, 5u);

  // 200, once the limit the last 429 set has run out.
  ingest.set_mode(PhasedIngest::Mode::k200);
  ASSERT_TRUE(testing::eventually(
      [&] {
        return Clock::now() >
               ingest.last_429() + std::chrono::seconds(PhasedIngest::kRetryAfterSeconds) + 50ms;
      },
      10s, 10ms));
  capture_phase("200");
  const sentry::Stats first = sentry::stats();
  EXPECT_EQ(first.captured, 20u);
  EXPECT_EQ(first.sent, 5u);
  sentry::close(5s);

  // The next start sends what the cache kept, and empties it.
  sentry::init(options);
  ASSERT_TRUE(sentry::flush(15s));
  const sentry::Stats second = sentry::stats();
  sentry::close(5s);
  EXPECT_EQ(second.loaded_from_cache, 10u);
  EXPECT_EQ(second.sent, 10u);
  EXPECT_EQ(files_in(cache_dir_, ".envelope"), 0u);

  // The accounting: accepted at most once each, accepted + counted-lost = captured.
  std::map<std::string, int> accepted;
  std::set<std::string> rejected_by_429;
  std::uint64_t reported_lost = 0;
  for (const auto& request : ingest.requests()) {
    for (const auto& [type, payload] : request.items) {
      if (type == "event" && request.status == 200) ++accepted[request.event_id];
      if (type == "event" && request.status == 429) rejected_by_429.insert(request.event_id);
      if (type == "client_report" && request.status == 200)
        for (const auto& discard : payload["discarded_events"].array)
          if (discard["category"].string == "error")
            reported_lost += static_cast<std::uint64_t>(discard["quantity"].number);
    }
  }
  const std::set<std::string> captured(all_ids.begin(), all_ids.end());
  ASSERT_EQ(captured.size(), all_ids.size());
  for (const auto& [id, times] : accepted) {
    EXPECT_EQ(times, 1) << "event " << id << " accepted " << times << " times";
    EXPECT_TRUE(captured.contains(id)) << "unknown event " << id;
    EXPECT_FALSE(rejected_by_429.contains(id)) << "event " << id << " sent again after a 429";
  }
  for (const char* phase : {"down", "500", "200"})
    for (const auto& id : ids[phase]) EXPECT_EQ(accepted[id], 1) << phase << " " << id;
  const std::uint64_t lost = first.dropped + second.dropped;
  EXPECT_EQ(lost, 5u);
  EXPECT_EQ(accepted.size() + lost, all_ids.size());
  EXPECT_EQ(dropped_errors_metric() - dropped_metric_before, static_cast<double>(lost));
  EXPECT_EQ(reported_lost, lost);  // the client reports tell Sentry about the same loss
}

/// What the peer accepted, per event id, and the error-category losses the accepted client
/// reports told about.
struct Delivered {
  std::map<std::string, int> accepted;
  std::uint64_t reported_lost = 0;
};

Delivered delivered(const PhasedIngest& ingest) {
  Delivered out;
  for (const auto& request : ingest.requests()) {
    if (request.status != 200) continue;
    for (const auto& [type, payload] : request.items) {
      if (type == "event") ++out.accepted[request.event_id];
      if (type == "client_report")
        for (const auto& discard : payload["discarded_events"].array)
          if (discard["category"].string == "error")
            out.reported_lost += static_cast<std::uint64_t>(discard["quantity"].number);
    }
  }
  return out;
}

TEST_F(SentryDeliveryFaults, WithoutACacheEveryLossIsCounted) {
  PhasedIngest ingest;
  sentry::Options options;
  options.dsn = ingest.dsn();
  options.environment = "test";
  options.capture_logs = false;
  options.crash_handler = false;
  options.gzip = false;
  options.max_retries = 2;
  options.retry_backoff = 100ms;  // each failing event holds the worker 300 ms
  options.http_timeout = 2000ms;
  options.queue_size = 4;
  const double dropped_metric_before = dropped_errors_metric();
  sentry::init(options);

  int captured = 0;
  std::vector<std::string> ids;
  auto capture = [&](const std::string& what) {
    ++captured;
    std::string id = sentry::capture_message(what, sentry::Level::kError);
    if (!id.empty()) ids.push_back(id);
    return id;
  };

  // Down, with a burst larger than the queue: the worker retries the first event while the
  // rest arrive, so some never get in (queue_overflow) and the others fail (network_error).
  for (int i = 0; i < 10; ++i) capture("down #" + std::to_string(i));
  const std::size_t queued = ids.size();
  EXPECT_LT(queued, 10u);
  ASSERT_TRUE(sentry::flush(15s));
  EXPECT_EQ(sentry::stats().dropped, 10u);

  // 500 until the retries run out: given up and counted.
  ingest.open(PhasedIngest::Mode::k500);
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(capture("500 #" + std::to_string(i)).empty());
  ASSERT_TRUE(sentry::flush(15s));
  EXPECT_EQ(sentry::stats().dropped, 13u);

  // A bare 429 (Retry-After only) limits everything, client reports included.
  ingest.set_mode(PhasedIngest::Mode::k429RetryAfter);
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(capture("429 #" + std::to_string(i)).empty());
  ASSERT_TRUE(sentry::flush(15s));
  EXPECT_EQ(sentry::stats().dropped, 16u);

  ingest.set_mode(PhasedIngest::Mode::k200);
  ASSERT_TRUE(testing::eventually(
      [&] {
        return Clock::now() >
               ingest.last_429() + std::chrono::seconds(PhasedIngest::kRetryAfterSeconds) + 50ms;
      },
      10s, 10ms));
  std::vector<std::string> up_ids;
  for (int i = 0; i < 3; ++i) up_ids.push_back(capture("200 #" + std::to_string(i)));
  ASSERT_TRUE(sentry::flush(15s));
  const sentry::Stats stats = sentry::stats();
  sentry::close(5s);

  const Delivered result = delivered(ingest);
  for (const auto& [id, times] : result.accepted) EXPECT_EQ(times, 1) << id;
  for (const auto& id : up_ids) EXPECT_EQ(result.accepted.count(id), 1u) << id;
  EXPECT_EQ(result.accepted.size(), 3u);
  EXPECT_EQ(stats.captured, ids.size());
  EXPECT_EQ(stats.dropped, 16u);
  EXPECT_EQ(result.accepted.size() + stats.dropped, static_cast<std::size_t>(captured));
  EXPECT_EQ(dropped_errors_metric() - dropped_metric_before, static_cast<double>(stats.dropped));
  EXPECT_EQ(result.reported_lost, stats.dropped);
}

TEST_F(SentryDeliveryFaults, ACachedEnvelopeTheCacheBoundPushedOutIsNotSentAfterAll) {
  std::filesystem::remove_all(cache_dir_);
  PhasedIngest ingest;
  sentry::Options options;
  options.dsn = ingest.dsn();
  options.environment = "test";
  options.capture_logs = false;
  options.crash_handler = false;
  options.gzip = false;
  options.max_retries = 2;
  options.retry_backoff = 100ms;
  options.http_timeout = 2000ms;
  options.cache_dir = cache_dir_.string();
  options.max_cache_files = 2;

  // Run 1, Sentry down: two events wait in the cache, which holds two.
  sentry::init(options);
  std::vector<std::string> ids;
  for (int i = 1; i <= 2; ++i)
    ids.push_back(sentry::capture_message("cached #" + std::to_string(i), sentry::Level::kError));
  ASSERT_TRUE(sentry::flush(15s));
  const sentry::Stats first = sentry::stats();
  sentry::close(5s);
  ASSERT_EQ(first.cached, 2u);
  ASSERT_EQ(files_in(cache_dir_, ".envelope"), 2u);

  // Run 2: Sentry answers 500 to the next 9 requests, then 200. The worker takes the first
  // cached envelope (3 attempts); two new events arrive meanwhile, fail (3 attempts each) and
  // go to the cache, whose bound pushes out both older files: counted as cache_overflow. The
  // second cached envelope, still queued in memory, was counted lost with its file, so it
  // must not be delivered as well.
  ingest.fail_next(9);
  ingest.open(PhasedIngest::Mode::k200);
  sentry::init(options);
  ASSERT_TRUE(testing::eventually([&] { return !ingest.requests().empty(); }, 10s, 1ms));
  ASSERT_EQ(ingest.requests().front().event_id, ids[0]);
  for (int i = 3; i <= 4; ++i)
    ids.push_back(sentry::capture_message("new #" + std::to_string(i), sentry::Level::kError));
  ASSERT_TRUE(sentry::flush(15s));
  const sentry::Stats second = sentry::stats();
  sentry::close(5s);
  EXPECT_EQ(second.loaded_from_cache, 2u);
  EXPECT_EQ(second.cached, 2u);
  EXPECT_EQ(second.dropped, 2u);  // both older files, pushed out by the bound

  // Run 3 sends what the cache kept: the two newer events.
  sentry::init(options);
  ASSERT_TRUE(sentry::flush(15s));
  const sentry::Stats third = sentry::stats();
  sentry::close(5s);
  EXPECT_EQ(third.loaded_from_cache, 2u);
  EXPECT_EQ(files_in(cache_dir_, ".envelope"), 0u);

  const Delivered result = delivered(ingest);
  for (const auto& [id, times] : result.accepted) EXPECT_EQ(times, 1) << id;
  EXPECT_EQ(result.accepted.count(ids[2]), 1u);
  EXPECT_EQ(result.accepted.count(ids[3]), 1u);
  const std::uint64_t lost = first.dropped + second.dropped + third.dropped;
  EXPECT_EQ(result.accepted.size() + lost, ids.size())
      << result.accepted.size() << " delivered, " << lost << " counted lost";
  EXPECT_EQ(result.accepted.count(ids[1]), 0u) << "delivered and counted lost";
}

TEST_F(SentryDeliveryFaults, ACachedEnvelopeInFlightWhenCloseGivesUpIsNotCachedTwice) {
  std::filesystem::remove_all(cache_dir_);
  PhasedIngest ingest;
  sentry::Options options;
  options.dsn = ingest.dsn();
  options.environment = "test";
  options.capture_logs = false;
  options.crash_handler = false;
  options.gzip = false;
  options.max_retries = 2;
  options.retry_backoff = 20ms;
  options.http_timeout = 1000ms;
  options.cache_dir = cache_dir_.string();

  // Run 1, Sentry down: the event waits in the cache.
  sentry::init(options);
  const std::string id = sentry::capture_message("cached, then hung", sentry::Level::kError);
  ASSERT_TRUE(sentry::flush(15s));
  sentry::close(5s);
  ASSERT_EQ(files_in(cache_dir_, ".envelope"), 1u);

  // Run 2: Sentry accepts the cached envelope and never answers; close() gives up on it. The
  // envelope is still in its cache file, so nothing more may be written for it.
  ingest.open(PhasedIngest::Mode::kSilent);
  sentry::init(options);
  ASSERT_TRUE(testing::eventually([&] { return !ingest.requests().empty(); }, 10s, 1ms));
  sentry::close(100ms);
  // The worker close() left behind ends at its HTTP timeout.
  ASSERT_TRUE(
      testing::eventually([] { return sentry::detail::live_transport_threads() == 0; }, 10s, 10ms));
  EXPECT_EQ(files_in(cache_dir_, ".envelope"), 1u);

  // Run 3: Sentry is back. The event arrives once.
  ingest.set_mode(PhasedIngest::Mode::k200);
  sentry::init(options);
  ASSERT_TRUE(sentry::flush(15s));
  sentry::close(5s);
  const Delivered result = delivered(ingest);
  EXPECT_EQ(result.accepted.size(), 1u);
  EXPECT_EQ(result.accepted.count(id) == 1 ? result.accepted.at(id) : 0, 1) << "sent twice?";
  EXPECT_EQ(files_in(cache_dir_, ".envelope"), 0u);
}

}  // namespace
}  // namespace monitoring
