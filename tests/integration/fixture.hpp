#pragma once

// RAII access to the real servers started by tests/fixtures/*.sh, plus small helpers the
// integration tests share (HTTP GET, polling).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "net/http_client.hpp"
#include "support/eventually.hpp"

extern char** environ;

namespace monitoring::testing {

/// The folder with the fixture scripts: $MONITORING_FIXTURES when set, else the source tree's
/// tests/fixtures (compiled in by tests/CMakeLists.txt).
inline std::filesystem::path fixtures_dir() {
  if (const char* dir = std::getenv("MONITORING_FIXTURES"); dir != nullptr && *dir != '\0')
    return dir;
  return MONITORING_TEST_FIXTURES;
}

/// The build tree, where examples/monitoring-demo lives.
inline std::filesystem::path binary_dir() {
  return MONITORING_TEST_BINARY_DIR;
}

/// Result of running a program to completion.
struct ProcessResult {
  int exit_code = -1;  ///< exit status, or 128 + signal number
  std::string output;  ///< everything it wrote to stdout (stderr goes to the test's stderr)
};

/// Runs `argv` (no shell) with `extra_env` added to the environment, capturing stdout.
inline ProcessResult run_process(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& extra_env = {}) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));

  std::vector<std::string> env_storage(extra_env);
  for (char** entry = environ; *entry != nullptr; ++entry) env_storage.emplace_back(*entry);
  std::vector<char*> envp;
  for (auto& entry : env_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_storage(argv);
  std::vector<char*> argvp;
  for (auto& arg : argv_storage) argvp.push_back(arg.data());
  argvp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);  // dup2 clears CLOEXEC
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, argvp[0], &actions, nullptr, argvp.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  if (rc != 0) {
    ::close(pipe_fds[0]);
    throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
  }

  ProcessResult result;
  char buffer[4096];
  while (true) {
    ssize_t n = ::read(pipe_fds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

/// A server started by `<fixtures>/<script> start args...` and stopped (`stop DIR`) when
/// the object goes away. The script prints KEY=VALUE lines; PORT, PID and DIR are required,
/// others (URL, SOCKET, ...) are available through `value()`.
///
/// The script's watchdog also stops the server if this process dies without running the
/// destructor (MONITORING_FIXTURE_OWNER is set to our pid).
class Fixture {
 public:
  template <class... Args>
  explicit Fixture(std::string script, Args&&... args)
      : Fixture(std::move(script),
                std::vector<std::string>{std::string(std::forward<Args>(args))...}) {}

  Fixture(std::string script, std::vector<std::string> args) : script_(fixtures_dir() / script) {
    std::vector<std::string> argv{script_.string(), "start"};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessResult result =
        run_process(argv, {"MONITORING_FIXTURE_OWNER=" + std::to_string(::getpid())});
    parse(result.output);
    if (result.exit_code != 0 || !values_.contains("PORT") || !values_.contains("PID") ||
        !values_.contains("DIR")) {
      if (values_.contains("DIR")) stop();
      throw std::runtime_error(script_.string() + " start failed (exit " +
                               std::to_string(result.exit_code) + "), output:\n" + result.output);
    }
    port_ = std::stoi(values_.at("PORT"));
    pid_ = std::stoi(values_.at("PID"));
  }

  ~Fixture() { stop(); }
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  /// Stops the server now (idempotent).
  void stop() noexcept {
    if (stopped_ || !values_.contains("DIR")) return;
    stopped_ = true;
    try {
      run_process({script_.string(), "stop", values_.at("DIR")});
    } catch (...) {
      // Nothing sensible to do in a destructor; the watchdog cleans up after us.
    }
  }

  int port() const noexcept { return port_; }
  int pid() const noexcept { return pid_; }
  const std::string& dir() const { return values_.at("DIR"); }
  /// "host:port" for configuration files and scrape targets.
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  /// "http://127.0.0.1:<port>" followed by `path`.
  std::string http_url(std::string_view path = "") const {
    return "http://" + address() + std::string(path);
  }
  /// Any KEY=VALUE the script printed; empty when absent.
  std::string value(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? std::string() : it->second;
  }

 private:
  void parse(const std::string& output) {
    std::size_t start = 0;
    while (start < output.size()) {
      std::size_t end = output.find('\n', start);
      if (end == std::string::npos) end = output.size();
      std::string_view line(output.data() + start, end - start);
      if (std::size_t eq = line.find('='); eq != std::string_view::npos && eq > 0)
        values_[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
      start = end + 1;
    }
  }

  std::filesystem::path script_;
  std::map<std::string, std::string> values_;
  int port_ = 0;
  int pid_ = 0;
  bool stopped_ = false;
};

/// A program running in the background (e.g. the demo service), stdout and stderr appended
/// to `log_path`. The destructor sends SIGTERM, waits up to 10 s, then SIGKILL.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
               const std::string& log_path) {
    std::vector<std::string> env_storage(extra_env);
    for (char** entry = environ; *entry != nullptr; ++entry) env_storage.emplace_back(*entry);
    std::vector<char*> envp;
    for (auto& entry : env_storage) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_storage(argv);
    std::vector<char*> argvp;
    for (auto& arg : argv_storage) argvp.push_back(arg.data());
    argvp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    const int rc = ::posix_spawn(&pid_, argvp[0], &actions, nullptr, argvp.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
  }
  ~ChildProcess() { stop(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const noexcept { return pid_; }

  /// True while the process runs (reaps it once it has exited).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = status;
      pid_ = -1;
      return false;
    }
    return true;
  }

  /// Terminates the process (if still running) and returns its wait status.
  int stop() noexcept {
    if (!running()) return exit_status_;
    ::kill(pid_, SIGTERM);
    if (!eventually([&] { return !running(); }, std::chrono::seconds(10),
                    std::chrono::milliseconds(20))) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      exit_status_ = status;
      pid_ = -1;
    }
    return exit_status_;
  }

 private:
  pid_t pid_ = -1;
  int exit_status_ = 0;
};

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to 0, then released). For
/// programs that cannot report an ephemeral port back; the tiny reuse race is acceptable.
inline int pick_free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error(std::string("cannot pick a free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

/// GET `url` with the library's HTTP client (throws common::HttpTransportError when no answer).
inline common::HttpResponse http_get(const std::string& url,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                     common::HttpHeaders headers = {}) {
  common::HttpRequest request;
  request.url = url;
  request.timeout = timeout;
  request.headers = std::move(headers);
  return common::http_request(request);
}

}  // namespace monitoring::testing
