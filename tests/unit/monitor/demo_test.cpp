// The demo service (monitoring-demo) as a user runs it: configuration errors and exit codes,
// clean stops on SIGINT / SIGTERM, and every catalog metric carrying data.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "monitoring/monitoring.hpp"
#include "support/catalog_series.hpp"
#include "support/eventually.hpp"
#include "support/http_client.hpp"
#include "support/local_http_peer.hpp"
#include "unit/sentry/ingest_peer.hpp"

extern char** environ;

namespace monitoring {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

/// build/tests/unit_monitor → build/examples/monitoring-demo.
fs::path demo_binary() {
  return fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "examples" /
         "monitoring-demo";
}

bool is_controlled_variable(std::string_view entry) {
  // Variables the demo reads: the test decides them all, the rest (ASAN_OPTIONS, ...) passes.
  for (std::string_view prefix :
       {"LOG_", "USE_JSON_LOGS=", "SENTRY_", "MONITORING_",
        "ENABLE_MONITORING_SERVER=", "DATABASE_URL=", "REDIS_URL=", "TELEGRAM_",
        "PANEL_URL=", "PAYMENT_SYSTEMS=", "MIGRATIONS_", "METRICS_", "DEMO_"})
    if (entry.starts_with(prefix)) return true;
  return false;
}

/// One run of the demo with its output in files.
class DemoProcess {
 public:
  explicit DemoProcess(const std::vector<std::string>& variables) {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() / ("monitoring-demo-unit-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(counter.fetch_add(1)));
    fs::create_directories(dir_);
    std::vector<std::string> env;
    for (char** entry = environ; *entry != nullptr; ++entry)
      if (!is_controlled_variable(*entry)) env.emplace_back(*entry);
    env.push_back("LOG_DIR=" + (dir_ / "logs").string());
    env.push_back("SENTRY_CACHE_DIR=" + (dir_ / "sentry").string());
    for (const auto& variable : variables) env.push_back(variable);

    std::vector<char*> envp;
    for (auto& entry : env) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::string binary = demo_binary().string();
    char* argv[] = {binary.data(), nullptr};

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string out = (dir_ / "stdout").string(), err = (dir_ / "stderr").string();
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("posix_spawn failed: " + std::to_string(rc));
  }

  ~DemoProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  /// The exit code, or -1 (and the process killed) if it did not exit within `timeout`.
  int wait_exit(std::chrono::seconds timeout) {
    int code = -1;
    testing::eventually(
        [&] {
          int status = 0;
          if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
          pid_ = -1;
          code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          return true;
        },
        timeout, std::chrono::milliseconds(20));
    return code;
  }

  /// The port from the "listening on host:port" line; 0 if none appears within `timeout`.
  std::uint16_t wait_port(std::chrono::seconds timeout) {
    std::uint16_t port = 0;
    testing::eventually(
        [&] {
          const std::string text = out();
          const auto at = text.find("listening on 127.0.0.1:");
          if (at == std::string::npos) return false;
          const auto end = text.find('\n', at);
          if (end == std::string::npos) return false;
          port = static_cast<std::uint16_t>(std::stoi(text.substr(at + 23, end - at - 23)));
          return true;
        },
        timeout, std::chrono::milliseconds(20));
    return port;
  }

  void signal(int number) { ::kill(pid_, number); }
  std::string out() const { return read(dir_ / "stdout"); }
  std::string err() const { return read(dir_ / "stderr"); }

 private:
  static std::string read(const fs::path& path) {
    std::ifstream file(path);
    std::stringstream text;
    text << file.rdbuf();
    return text.str();
  }

  fs::path dir_;
  pid_t pid_ = -1;
};

class MonitoringDemo : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef MONITORING_TEST_EXPECT_DEMO
    ASSERT_TRUE(fs::exists(demo_binary())) << "demo not built: " << demo_binary();
#else
    if (!fs::exists(demo_binary())) GTEST_SKIP() << "built without examples: " << demo_binary();
#endif
  }
};

TEST_F(MonitoringDemo, BadVariableExitsWithCode2AndNamesIt) {
  {
    DemoProcess demo({"MONITORING_PORT=ninety"});
    EXPECT_EQ(demo.wait_exit(std::chrono::seconds(30)), 2);
    EXPECT_THAT(demo.err(), HasSubstr("MONITORING_PORT"));
    EXPECT_THAT(demo.err(), HasSubstr("ninety"));
  }
  {
    DemoProcess demo({"DEMO_SPEED=fast"});
    EXPECT_EQ(demo.wait_exit(std::chrono::seconds(30)), 2);
    EXPECT_THAT(demo.err(), HasSubstr("DEMO_SPEED"));
  }
  {
    DemoProcess demo({"TELEGRAM_TOKEN=not-a-valid-token-SECRETPART"});
    EXPECT_EQ(demo.wait_exit(std::chrono::seconds(30)), 2);
    EXPECT_THAT(demo.err(), HasSubstr("TELEGRAM_TOKEN"));
    EXPECT_THAT(demo.err() + demo.out(), Not(HasSubstr("SECRETPART")));
  }
}

TEST_F(MonitoringDemo, BusyPortExitsWithCode1AndNamesThePort) {
  MonitoringConfig config;
  config.monitoring_host = "127.0.0.1";
  config.monitoring_port = 0;
  auto holder = setup_monitoring(config);
  const std::string port = std::to_string(holder.port());
  DemoProcess demo({"MONITORING_HOST=127.0.0.1", "MONITORING_PORT=" + port});
  EXPECT_EQ(demo.wait_exit(std::chrono::seconds(30)), 1);
  EXPECT_THAT(demo.err(), HasSubstr(port));
}

TEST_F(MonitoringDemo, StopsCleanlyOnSigtermAndSigint) {
  for (int signal : {SIGTERM, SIGINT}) {
    DemoProcess demo({"MONITORING_HOST=127.0.0.1", "MONITORING_PORT=0", "DEMO_SPEED=5"});
    const std::uint16_t port = demo.wait_port(std::chrono::seconds(30));
    ASSERT_NE(port, 0) << demo.out() << demo.err();
    EXPECT_EQ(testing::raw_get(port, "/live").status, 200);
    // Stop it mid-traffic: once its simulated bot has handled updates.
    EXPECT_TRUE(testing::eventually(
        [&] {
          static const std::regex handled(R"(bot_handler_duration_seconds_count\{[^}]*\} [1-9])");
          return std::regex_search(testing::raw_get(port, "/metrics").body, handled);
        },
        std::chrono::seconds(30), std::chrono::milliseconds(20)));
    demo.signal(signal);
    EXPECT_EQ(demo.wait_exit(std::chrono::seconds(30)), 0) << "signal " << signal << "\n"
                                                           << demo.err();
    EXPECT_THAT(demo.out(), HasSubstr("stopped"));
    EXPECT_TRUE(testing::connect_loopback(port) < 0) << "the server still listens after exit";
  }
}

TEST_F(MonitoringDemo, PrintsItsEndpoints) {
  DemoProcess demo({"MONITORING_HOST=127.0.0.1", "MONITORING_PORT=0", "DEMO_DURATION_SECONDS=0.5"});
  EXPECT_EQ(demo.wait_exit(std::chrono::seconds(30)), 0) << demo.err();
  const std::string out = demo.out();
  for (const char* path : {"/metrics", "/health", "/ready", "/live"})
    EXPECT_THAT(out, ::testing::ContainsRegex(std::string("http://127\\.0\\.0\\.1:[0-9]+") + path));
}

TEST_F(MonitoringDemo, DrivesEveryCatalogMetric) {
  DemoProcess demo({"MONITORING_HOST=127.0.0.1", "MONITORING_PORT=0", "DEMO_SPEED=20",
                    "DEMO_SEED=7", "DEMO_DURATION_SECONDS=60"});
  const std::uint16_t port = demo.wait_port(std::chrono::seconds(30));
  ASSERT_NE(port, 0) << demo.out() << demo.err();

  // A sample line of `name` (with or without labels) whose value is not zero.
  auto has_data = [](const std::string& exposition, const std::string& name) {
    std::istringstream lines(exposition);
    for (std::string line; std::getline(lines, line);) {
      if (!line.starts_with(name) || line.size() <= name.size()) continue;
      if (line[name.size()] != '{' && line[name.size()] != ' ') continue;
      const std::string value = line.substr(line.rfind(' ') + 1);
      if (value != "0") return true;
    }
    return false;
  };
  const std::vector<std::string>& series = testing::catalog_series();

  std::vector<std::string> missing = series;
  // Series whose labels the simulation reaches at random times (a cryptopay request may come
  // after every family has some data): waited for too, then checked below.
  std::vector<std::string> labeled;
  for (const char* handler : {"start", "help", "profile", "buy", "callback_query", "text"})
    labeled.push_back(std::string("bot_handler_duration_seconds_count{handler=\"") + handler);
  for (const char* provider : {"yookassa", "cryptopay"})
    labeled.push_back(std::string("payment_requests_total{payment_system=\"") + provider);
  std::string exposition;
  testing::eventually(
      [&] {
        exposition = testing::raw_get(port, "/metrics").body;
        std::erase_if(missing, [&](const std::string& name) { return has_data(exposition, name); });
        return missing.empty() && std::all_of(labeled.begin(), labeled.end(), [&](const auto& s) {
                 return exposition.find(s) != std::string::npos;
               });
      },
      std::chrono::seconds(45), std::chrono::milliseconds(500));
  EXPECT_THAT(missing, ::testing::IsEmpty()) << exposition;
  // Each handler and both providers show up.
  for (const char* handler : {"start", "help", "profile", "buy", "callback_query", "text"})
    EXPECT_THAT(exposition,
                HasSubstr(std::string("bot_handler_duration_seconds_count{handler=\"") + handler));
  for (const char* provider : {"yookassa", "cryptopay"})
    EXPECT_THAT(exposition,
                HasSubstr(std::string("payment_requests_total{payment_system=\"") + provider));
  for (const char* period : {"daily", "weekly"})
    EXPECT_THAT(exposition, HasSubstr(std::string("conversion_rate{period=\"") + period));
  for (const char* currency : {"RUB", "USD"})
    EXPECT_THAT(exposition, HasSubstr(std::string("average_ltv{currency=\"") + currency));

  demo.signal(SIGTERM);
  EXPECT_EQ(demo.wait_exit(std::chrono::seconds(30)), 0) << demo.err();
}

TEST_F(MonitoringDemo, PaymentChecksOwnTheAvailabilityOfTheirProviders) {
  // Issue 13, point 8: with PAYMENT_SYSTEMS naming a provider, the gauge shows the check's
  // reading (here down: 502), not the simulation's "up"; the other provider stays simulated.
  testing::LocalHttpPeer down([](const testing::RecordedRequest&) {
    return testing::CannedAnswer{testing::http_answer(502, "Bad Gateway", "down", {})};
  });
  DemoProcess demo({"MONITORING_HOST=127.0.0.1", "MONITORING_PORT=0", "DEMO_SEED=7",
                    "DEMO_DURATION_SECONDS=60", "PAYMENT_SYSTEMS=yookassa=" + down.url("/")});
  const std::uint16_t port = demo.wait_port(std::chrono::seconds(30));
  ASSERT_NE(port, 0) << demo.out() << demo.err();
  EXPECT_TRUE(testing::eventually(
      [&] {
        return demo.out().find("comes from the payment:yookassa health check") != std::string::npos;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(20)))
      << demo.out();
  EXPECT_THAT(testing::raw_get(port, "/health").body, HasSubstr("payment:yookassa"));
  const std::string exposition = testing::raw_get(port, "/metrics").body;
  EXPECT_THAT(exposition, HasSubstr("payment_system_availability{payment_system=\"yookassa\"} 0"));
  EXPECT_THAT(exposition, HasSubstr("payment_system_availability{payment_system=\"cryptopay\"} 1"));
  demo.signal(SIGTERM);
  EXPECT_EQ(demo.wait_exit(std::chrono::seconds(30)), 0) << demo.err();
}

TEST_F(MonitoringDemo, WithSentryTheWebhooksAreTracesNamedByTheirExemplars) {
  // Issue 13, point 6: the demo starts no transaction itself; its webhook and handler timers
  // do, and the OpenMetrics exemplars of the webhook histogram carry their trace ids.
  sentry_test::IngestPeer ingest;
  DemoProcess demo({"MONITORING_HOST=127.0.0.1", "MONITORING_PORT=0", "DEMO_SPEED=20",
                    "DEMO_SEED=7", "DEMO_DURATION_SECONDS=60", "SENTRY_DSN=" + ingest.dsn(),
                    "SENTRY_TRACES_SAMPLE_RATE=1"});
  const std::uint16_t port = demo.wait_port(std::chrono::seconds(30));
  ASSERT_NE(port, 0) << demo.out() << demo.err();

  const std::regex exemplar(
      "http_request_duration_seconds_bucket\\{[^}]*endpoint=\"/webhook\"[^}]*\\} [0-9]+ "
      "# \\{trace_id=\"([0-9a-f]{32})\"");
  std::set<std::string> exemplar_traces;
  std::set<std::string> ops;
  bool matched = false;
  testing::eventually(
      [&] {
        const std::string exposition =
            testing::raw_get(port, "/metrics", "Accept: application/openmetrics-text\r\n").body;
        for (std::sregex_iterator it(exposition.begin(), exposition.end(), exemplar), end;
             it != end; ++it)
          exemplar_traces.insert((*it)[1].str());
        for (const auto& envelope : ingest.with_item("transaction")) {
          const auto& tx = *envelope.item("transaction");
          ops.insert(tx["contexts"]["trace"]["op"].string + " " + tx["transaction"].string);
          if (tx["transaction"].string == "POST /webhook" &&
              tx["contexts"]["trace"]["op"].string == "http.server" &&
              exemplar_traces.count(tx["contexts"]["trace"]["trace_id"].string) != 0)
            matched = true;
        }
        return matched && ops.count("bot.handler start") != 0;
      },
      std::chrono::seconds(45), std::chrono::milliseconds(500));
  EXPECT_TRUE(matched) << exemplar_traces.size() << " exemplar traces, "
                       << ingest.with_item("transaction").size() << " transactions";
  EXPECT_EQ(ops.count("bot.handler start"), 1u) << "the handlers are transactions too";
  demo.signal(SIGTERM);
  EXPECT_EQ(demo.wait_exit(std::chrono::seconds(30)), 0) << demo.err();
}

}  // namespace
}  // namespace monitoring
