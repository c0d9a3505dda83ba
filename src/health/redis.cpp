#include "health/redis.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/time.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>
#include <vector>

#include "health/scrub.hpp"
#include "monitoring/error.hpp"
#include "monitoring/health/checks.hpp"
#include "net/http_client.hpp"

namespace monitoring::health {

namespace detail {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kDeadlineMargin{10};

int parse_number(std::string_view text, int low, int high, std::string_view what,
                 std::string_view url) {
  int value = -1;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < low ||
      value > high)
    throw ConfigError("Redis URL '" + common::redact_url(url) + "' has an invalid " +
                      std::string(what) + " '" + std::string(text.substr(0, 32)) + "'");
  return value;
}

void apply_query(RedisTarget& target, std::string_view query, std::string_view url) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (key == "db")
      target.db = parse_number(value, 0, 1 << 20, "database number", url);
    else if (key == "password")
      target.password = common::percent_decode(value);
    else if (key == "username" || key == "user")
      target.username = common::percent_decode(value);
    // Other client options (timeouts, pool sizes) mean nothing to a health check.
  }
}

struct ContextDeleter {
  void operator()(redisContext* context) const noexcept { redisFree(context); }
};
struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::chrono::milliseconds time_left(Clock::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - kDeadlineMargin -
                                                               Clock::now());
}

// hiredis reports a socket timeout as EAGAIN's text.
std::string describe(const redisContext& context) {
  std::string text = context.errstr;
  if (text.find("temporarily unavailable") != std::string::npos ||
      text.find("timed out") != std::string::npos)
    return "timed out";
  return text.empty() ? "I/O error" : text;
}

}  // namespace

RedisTarget parse_redis_url(std::string_view url) {
  RedisTarget target;
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos)
    throw ConfigError("Redis URL '" + common::redact_url(url) +
                      "' is not a URL (expected redis://host:port/db or unix:///path)");
  std::string scheme(url.substr(0, scheme_end));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string_view rest = url.substr(scheme_end + 3);

  std::string_view query;
  if (const std::size_t question = rest.find('?'); question != std::string_view::npos) {
    query = rest.substr(question + 1);
    rest = rest.substr(0, question);
  }
  if (const std::size_t hash = rest.find('#'); hash != std::string_view::npos)
    rest = rest.substr(0, hash);

  if (scheme == "unix" || scheme == "redis+unix") {
    if (rest.empty() || rest.front() != '/')
      throw ConfigError("Redis URL '" + common::redact_url(url) +
                        "' needs an absolute socket path");
    target.socket_path = common::percent_decode(rest);
    apply_query(target, query, url);
    return target;
  }
  if (scheme == "rediss")
    throw ConfigError("Redis URL '" + common::redact_url(url) +
                      "' asks for TLS (rediss://), which this build's hiredis does not support");
  if (scheme != "redis")
    throw ConfigError("Redis URL '" + common::redact_url(url) + "' has an unsupported scheme '" +
                      scheme + "' (expected redis:// or unix://)");

  std::string_view path;
  if (const std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (const std::size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      target.username = common::percent_decode(userinfo.substr(0, colon));
      target.password = common::percent_decode(userinfo.substr(colon + 1));
    } else {
      target.password = common::percent_decode(userinfo);  // redis://secret@host
    }
  }
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos)
      throw ConfigError("Redis URL '" + common::redact_url(url) + "' has an unclosed IPv6 address");
    target.host = std::string(rest.substr(1, close - 1));
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':')
        throw ConfigError("Redis URL '" + common::redact_url(url) + "' has junk after the host");
      port = rest.substr(close + 2);
    }
  } else {
    const std::size_t colon = rest.rfind(':');
    target.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (target.host.empty()) target.host = "localhost";
  if (!port.empty()) target.port = parse_number(port, 1, 65535, "port", url);
  if (!path.empty()) target.db = parse_number(path, 0, 1 << 20, "database number", url);
  apply_query(target, query, url);
  return target;
}

}  // namespace detail

CheckFunction redis_check(std::string redis_url) {
  auto target = std::make_shared<const detail::RedisTarget>(detail::parse_redis_url(redis_url));
  const std::string endpoint =
      target->socket_path.empty()
          ? (target->host.find(':') != std::string::npos ? "[" + target->host + "]"
                                                         : target->host) +
                ":" + std::to_string(target->port)
          : target->socket_path;
  return [target, endpoint](const CheckContext& context) {
    const auto fail = [&](std::string message) {
      return CheckResult::unhealthy(detail::scrub_message(message, {target->password}));
    };
    auto left = detail::time_left(context.deadline);
    if (left.count() <= 0) return fail("timed out before connecting");
    const timeval connect_timeout = detail::to_timeval(left);
    std::unique_ptr<redisContext, detail::ContextDeleter> redis(
        target->socket_path.empty()
            ? redisConnectWithTimeout(target->host.c_str(), target->port, connect_timeout)
            : redisConnectUnixWithTimeout(target->socket_path.c_str(), connect_timeout));
    if (!redis) return fail("cannot allocate a Redis context");
    if (redis->err != 0)
      return fail("connection to " + endpoint + " failed: " + detail::describe(*redis));

    // Runs one command within what is left of the deadline; nullptr with `error` set on failure.
    std::string error;
    const auto command = [&](std::vector<std::string> args,
                             std::string_view label) -> detail::ReplyPtr {
      const auto remaining = detail::time_left(context.deadline);
      if (remaining.count() <= 0) {
        error = std::string(label) + " timed out";
        return nullptr;
      }
      // A backstop only: socket timeouts run on the kernel's timer wheel, which may fire an
      // eighth of the timeout late. The wait for the reply below is a poll() to the deadline.
      redisSetTimeout(redis.get(), detail::to_timeval(remaining));
      std::vector<const char*> argv;
      std::vector<std::size_t> lengths;
      for (const auto& arg : args) {
        argv.push_back(arg.data());
        lengths.push_back(arg.size());
      }
      const auto io_failed = [&] {
        error = std::string(label) + " failed: " + detail::describe(*redis);
        return nullptr;
      };
      if (redisAppendCommandArgv(redis.get(), static_cast<int>(argv.size()), argv.data(),
                                 lengths.data()) != REDIS_OK)
        return io_failed();
      for (int written = 0; written == 0;)
        if (redisBufferWrite(redis.get(), &written) != REDIS_OK) return io_failed();
      void* raw = nullptr;
      while (true) {
        if (redisGetReplyFromReader(redis.get(), &raw) != REDIS_OK) return io_failed();
        if (raw != nullptr) break;
        const auto left = detail::time_left(context.deadline);
        pollfd entry{redis->fd, POLLIN, 0};
        const int ready = left.count() > 0 ? ::poll(&entry, 1, static_cast<int>(left.count())) : 0;
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) {
          error = std::string(label) + " failed: timed out";
          return nullptr;
        }
        if (ready < 0) {
          error = std::string(label) + " failed: poll: " + std::strerror(errno);
          return nullptr;
        }
        if (redisBufferRead(redis.get()) != REDIS_OK) return io_failed();
      }
      detail::ReplyPtr reply(static_cast<redisReply*>(raw));
      if (reply->type == REDIS_REPLY_ERROR) {
        error = std::string(label) + " failed: " + std::string(reply->str, reply->len);
        return nullptr;
      }
      return reply;
    };

    if (!target->password.empty()) {
      std::vector<std::string> auth{"AUTH"};
      if (!target->username.empty()) auth.push_back(target->username);
      auth.push_back(target->password);
      if (!command(std::move(auth), "AUTH")) return fail(error);
    }
    if (target->db != 0 && !command({"SELECT", std::to_string(target->db)}, "SELECT"))
      return fail(error);
    auto pong = command({"PING"}, "PING");
    if (!pong) return fail(error);
    const std::string_view answer(pong->str != nullptr ? pong->str : "", pong->len);
    if (pong->type != REDIS_REPLY_STATUS || answer != "PONG")
      return fail("PING answered '" + std::string(answer.substr(0, 64)) + "' instead of PONG");
    return CheckResult::healthy("ok (PONG from " + endpoint + ")");
  };
}

}  // namespace monitoring::health
