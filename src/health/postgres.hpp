#pragma once

// libpq with deadlines: non-blocking connect and query, so a hung server costs at most the
// check's timeout. Internal to the health component (exposed for its tests).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// libpq's connection type, forward-declared so this header does not need libpq's include path.
struct pg_conn;

namespace monitoring::health::detail {

/// A database URL ready for libpq: a "+driver" suffix in the scheme (postgresql+asyncpg://,
/// as SQLAlchemy writes them) is dropped. Throws ConfigError when libpq cannot parse it; the
/// message never contains the password.
std::string normalize_database_url(std::string_view url);

/// The password inside a conninfo string or URL ("" when none), for scrubbing messages.
std::string database_password(const std::string& conninfo);

/// Everything of a conninfo string or URL that messages must not show: libpq's password and
/// the pieces of the raw user-info's password (userinfo_password_pieces), which libpq may have
/// read as a host, port or database when the password holds an unencoded '/'.
std::vector<std::string> database_secrets(const std::string& conninfo);

/// Splits "[schema.]table" into plain identifiers ([A-Za-z_][A-Za-z0-9_]*); throws ConfigError.
std::string validate_table_name(std::string_view table);

/// -1, 0 or 1 as version `a` is below, equal to or above `b`. Versions are compared part by
/// part (split at '.', '_' and '-'), numerically when both parts are digits: 1.10 > 1.9.
int compare_versions(std::string_view a, std::string_view b);

/// One open connection, closed on destruction.
class PgConnection {
 public:
  using Row = std::vector<std::optional<std::string>>;

  /// Connects before `deadline`; throws Error with libpq's message (password scrubbed).
  PgConnection(const std::string& conninfo, std::chrono::steady_clock::time_point deadline);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  /// Runs `sql` with text parameters and returns every row as text (NULL = nullopt). Throws
  /// Error on failure or when the deadline passes.
  std::vector<Row> query(const std::string& sql, const std::vector<std::string>& params,
                         std::chrono::steady_clock::time_point deadline);

  /// e.g. 150018 for 15.18.
  int server_version() const noexcept;

 private:
  [[noreturn]] void fail(std::string_view what) const;
  void wait(bool for_write, std::chrono::steady_clock::time_point deadline,
            std::string_view what) const;

  pg_conn* conn_ = nullptr;
  std::vector<std::string> secrets_;
};

}  // namespace monitoring::health::detail
