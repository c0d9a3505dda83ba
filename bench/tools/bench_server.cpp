// HTTP benchmark target for bench/http/run.sh.
//
//   bench_server --mode=monitoring|asio-baseline [--port N] [--series N] [--threads N]
//   bench_server --dump-metrics [--series N]     (prints the /metrics body and exits)
//
// Serves /live ({"status":"alive"}) and /metrics (N counter series). "monitoring" is the
// library's HttpServer, serializing a real Registry on every scrape (plus /metrics-prebuilt:
// the same body prebuilt, to separate server cost from serialization); "asio-baseline" is a
// minimal hand-written Asio responder returning the same bodies prebuilt, i.e. the transport
// cost alone. Prints "port=<bound port>" on stdout once listening; stops on SIGINT/SIGTERM.

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/write.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"
#include "monitoring/server/http_server.hpp"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

constexpr std::string_view kLiveBody = R"({"status":"alive"})";

struct Arguments {
  std::string mode = "monitoring";
  int port = 0;
  int series = 1000;
  unsigned threads = 1;
  bool dump_metrics = false;
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "bench_server: " << problem
            << "\nusage: bench_server --mode=monitoring|asio-baseline [--port N] [--series N] "
               "[--threads N]\n"
               "       bench_server --dump-metrics [--series N]\n";
  std::exit(2);
}

Arguments parse_arguments(int argc, char** argv) {
  Arguments arguments;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    if (const auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (arg != "--dump-metrics") {
      if (i + 1 >= argc) usage("missing value for " + arg);
      value = argv[++i];
    }
    try {
      if (arg == "--mode")
        arguments.mode = value;
      else if (arg == "--port")
        arguments.port = std::stoi(value);
      else if (arg == "--series")
        arguments.series = std::stoi(value);
      else if (arg == "--threads")
        arguments.threads = static_cast<unsigned>(std::stoul(value));
      else if (arg == "--dump-metrics")
        arguments.dump_metrics = true;
      else
        usage("unknown option " + arg);
    } catch (const std::logic_error&) {
      usage("bad value '" + value + "' for " + arg);
    }
  }
  if (arguments.mode != "monitoring" && arguments.mode != "asio-baseline")
    usage("unknown mode " + arguments.mode);
  if (arguments.series < 0) usage("--series must be >= 0");
  return arguments;
}

/// N counter series with realistic label sets (~100 bytes per sample line).
void populate(monitoring::metrics::Registry& registry, int series) {
  auto& family =
      registry.counter("bench_http_requests_total", "Requests handled by the benchmark service.",
                       {"handler", "method", "status"});
  static const char* kMethods[] = {"GET", "POST", "PUT", "DELETE"};
  static const char* kStatuses[] = {"200", "201", "400", "404", "500"};
  for (int i = 0; i < series; ++i) {
    const std::string handler = "/api/v1/subscriptions/resource_" + std::to_string(i / 20);
    family.labels(handler, kMethods[i % 4], kStatuses[(i / 4) % 5])
        .inc(static_cast<double>(1000 + i * 7));
  }
}

// ---------------------------------------------------------------------------------------------
// Minimal Asio responder: read, find the end of each request head, write a prebuilt answer.

class BaselineSession : public std::enable_shared_from_this<BaselineSession> {
 public:
  BaselineSession(tcp::socket socket, const std::string& live, const std::string& metrics,
                  const std::string& missing)
      : socket_(std::move(socket)), live_(live), metrics_(metrics), missing_(missing) {}

  void start() {
    socket_.set_option(tcp::no_delay(true));
    read();
  }

 private:
  void read() {
    socket_.async_read_some(
        asio::buffer(buffer_.data() + used_, buffer_.size() - used_),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
          if (ec) return;
          self->used_ += n;
          self->answer();
        });
  }

  void answer() {
    const std::string_view data(buffer_.data(), used_);
    const std::size_t end = data.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      if (used_ == buffer_.size()) return;  // oversized: drop the connection
      read();
      return;
    }
    const std::size_t path_start = data.find(' ') + 1;
    const std::string_view path = data.substr(path_start, data.find(' ', path_start) - path_start);
    const std::string& response = path == "/live"      ? live_
                                  : path == "/metrics" ? metrics_
                                                       : missing_;
    // Requests carry no body here; keep whatever follows (pipelining).
    consumed_ = end + 4;
    asio::async_write(
        socket_, asio::buffer(response),
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
          if (ec) return;
          std::memmove(self->buffer_.data(), self->buffer_.data() + self->consumed_,
                       self->used_ - self->consumed_);
          self->used_ -= self->consumed_;
          if (self->used_ > 0)
            self->answer();
          else
            self->read();
        });
  }

  tcp::socket socket_;
  const std::string& live_;
  const std::string& metrics_;
  const std::string& missing_;
  std::array<char, 8192> buffer_{};
  std::size_t used_ = 0;
  std::size_t consumed_ = 0;
};

std::string prebuilt(std::string_view status, std::string_view type, std::string_view body) {
  std::string out = "HTTP/1.1 ";
  out += status;
  out += "\r\nContent-Type: ";
  out += type;
  out += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out += body;
  return out;
}

int run_baseline(const Arguments& arguments, const std::string& metrics_body) {
  const std::string live = prebuilt("200 OK", "application/json", kLiveBody);
  const std::string metrics =
      prebuilt("200 OK", "text/plain; version=0.0.4; charset=utf-8", metrics_body);
  const std::string missing = prebuilt("404 Not Found", "text/plain", "not found\n");
  asio::io_context io(1);
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                           static_cast<std::uint16_t>(arguments.port)));
  std::function<void()> accept = [&] {
    acceptor.async_accept([&](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec) return;
      std::make_shared<BaselineSession>(std::move(socket), live, metrics, missing)->start();
      accept();
    });
  };
  accept();
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
  std::cout << "port=" << acceptor.local_endpoint().port() << std::endl;
  io.run();
  return 0;
}

int run_monitoring(const Arguments& arguments, monitoring::metrics::Registry& registry) {
  namespace server = monitoring::server;
  server::HttpServerOptions options;
  options.host = "127.0.0.1";
  options.port = arguments.port;
  options.threads = arguments.threads;
  server::HttpServer http(options);
  http.route("/live", [](const server::Request&) {
    server::Response response;
    response.content_type = "application/json";
    response.body = kLiveBody;
    return response;
  });
  http.route("/metrics", [&registry](const server::Request& request) {
    const auto format = monitoring::metrics::negotiate_format(request.header("Accept"));
    server::Response response;
    response.content_type = monitoring::metrics::content_type(format);
    response.body = monitoring::metrics::serialize(registry, format);
    return response;
  });
  // Diagnostic: the same bytes without serializing, i.e. what the server itself costs per scrape.
  const std::string prebuilt_metrics = monitoring::metrics::serialize(registry);
  http.route("/metrics-prebuilt", [&prebuilt_metrics](const server::Request&) {
    server::Response response;
    response.content_type =
        monitoring::metrics::content_type(monitoring::metrics::ExpositionFormat::kText);
    response.body = prebuilt_metrics;
    return response;
  });
  // Block the stop signals before the server threads exist so only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  http.start();
  std::cout << "port=" << http.port() << std::endl;
  int received = 0;
  sigwait(&stop_signals, &received);
  http.stop();
  const auto stats = http.stats();
  std::cerr << "bench_server: " << stats.requests << " requests, " << stats.connections_accepted
            << " connections\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Arguments arguments = parse_arguments(argc, argv);
  monitoring::metrics::Registry registry;
  populate(registry, arguments.series);
  const std::string metrics_body = monitoring::metrics::serialize(registry);
  if (arguments.dump_metrics) {
    std::fwrite(metrics_body.data(), 1, metrics_body.size(), stdout);
    return 0;
  }
  std::cerr << "bench_server: mode=" << arguments.mode << " series=" << arguments.series
            << " /metrics body=" << metrics_body.size() << " bytes\n";
  try {
    if (arguments.mode == "asio-baseline") return run_baseline(arguments, metrics_body);
    return run_monitoring(arguments, registry);
  } catch (const std::exception& error) {
    std::cerr << "bench_server: " << error.what() << "\n";
    return 1;
  }
}
