#pragma once

// Redis URL parsing for the redis check (internal, exposed for tests).

#include <string>
#include <string_view>

namespace monitoring::health::detail {

/// Where and how to reach Redis.
struct RedisTarget {
  std::string host;  ///< TCP host (empty for a unix socket)
  int port = 6379;
  std::string socket_path;  ///< unix socket (empty for TCP)
  std::string username;     ///< ACL user (Redis 6+); empty = default user
  std::string password;     ///< empty = no AUTH
  int db = 0;
};

/// Parses redis://[[user]:password@]host[:port][/db][?db=N&password=...] and
/// unix:///path[?db=N&password=...]. User and password are percent-decoded. Throws
/// ConfigError (password redacted) for rediss:// (TLS is not built in), other schemes, a bad
/// port or database number.
RedisTarget parse_redis_url(std::string_view url);

}  // namespace monitoring::health::detail
