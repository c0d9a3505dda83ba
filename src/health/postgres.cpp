#include "health/postgres.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <memory>
#include <utility>

#include "health/scrub.hpp"
#include "monitoring/error.hpp"
#include "monitoring/health/checks.hpp"
#include "monitoring/scrub.hpp"

namespace monitoring::health {

namespace detail {

namespace {

using Clock = std::chrono::steady_clock;

// I/O stops slightly before the run's deadline so the check reports its own, more precise
// reason ("timeout connecting") instead of the engine's generic one.
constexpr std::chrono::milliseconds kDeadlineMargin{10};

struct ConninfoOptions {
  void operator()(PQconninfoOption* options) const noexcept { PQconninfoFree(options); }
};
using ConninfoPtr = std::unique_ptr<PQconninfoOption, ConninfoOptions>;

struct ResultDeleter {
  void operator()(PGresult* result) const noexcept { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

std::string trim_message(std::string message) {
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back())))
    message.pop_back();
  return message;
}

bool is_identifier(std::string_view part) {
  if (part.empty() || part.size() > 63) return false;
  if (!(std::isalpha(static_cast<unsigned char>(part[0])) || part[0] == '_')) return false;
  return std::all_of(part.begin(), part.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

std::vector<std::string_view> version_parts(std::string_view version) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= version.size(); ++i) {
    if (i == version.size() || version[i] == '.' || version[i] == '_' || version[i] == '-') {
      parts.push_back(version.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string normalize_database_url(std::string_view url) {
  std::string normalized(url);
  if (std::size_t scheme_end = normalized.find("://"); scheme_end != std::string::npos) {
    std::string_view scheme = std::string_view(normalized).substr(0, scheme_end);
    if (std::size_t plus = scheme.find('+');
        plus != std::string_view::npos &&
        (scheme.substr(0, plus) == "postgresql" || scheme.substr(0, plus) == "postgres"))
      normalized.erase(plus, scheme_end - plus);
  }
  if (normalized.empty()) throw ConfigError("database URL is empty");
  char* error = nullptr;
  ConninfoPtr options(PQconninfoParse(normalized.c_str(), &error));
  if (!options) {
    std::string reason = error != nullptr ? trim_message(error) : "out of memory";
    PQfreemem(error);
    // libpq may quote a piece of the URL cut anywhere (at an '=', say), where the scrubber no
    // longer sees the '@' that ends the user-info: explain with the user-info removed instead.
    if (std::string without_userinfo; Scrubber::redact_url_userinfo(normalized, without_userinfo)) {
      char* redacted_error = nullptr;
      ConninfoPtr redacted(PQconninfoParse(without_userinfo.c_str(), &redacted_error));
      reason = redacted                    ? "libpq cannot parse its user-info"
               : redacted_error != nullptr ? trim_message(redacted_error)
                                           : "out of memory";
      PQfreemem(redacted_error);
    }
    // libpq may quote pieces of the URL back; never the password.
    throw ConfigError("database URL '" + scrub_message(url) +
                      "' is malformed: " + scrub_message(reason, database_secrets(normalized)));
  }
  return normalized;
}

std::string database_password(const std::string& conninfo) {
  char* error = nullptr;
  ConninfoPtr options(PQconninfoParse(conninfo.c_str(), &error));
  PQfreemem(error);
  if (!options) {
    // Unparsable: fall back to the user-info of a URL.
    const std::size_t scheme = conninfo.find("://");
    const std::size_t at = conninfo.find('@', scheme == std::string::npos ? 0 : scheme + 3);
    if (scheme == std::string::npos || at == std::string::npos) return {};
    const std::size_t colon = conninfo.find(':', scheme + 3);
    return colon != std::string::npos && colon < at ? conninfo.substr(colon + 1, at - colon - 1)
                                                    : std::string();
  }
  for (PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option)
    if (std::string_view(option->keyword) == "password" && option->val != nullptr)
      return option->val;
  return {};
}

std::vector<std::string> database_secrets(const std::string& conninfo) {
  std::vector<std::string> secrets = userinfo_password_pieces(conninfo);
  if (std::string password = database_password(conninfo); !password.empty())
    secrets.push_back(std::move(password));
  return secrets;
}

std::string validate_table_name(std::string_view table) {
  const std::size_t dot = table.find('.');
  const bool valid = dot == std::string_view::npos ? is_identifier(table)
                                                   : is_identifier(table.substr(0, dot)) &&
                                                         is_identifier(table.substr(dot + 1));
  if (!valid)
    throw ConfigError(
        "MIGRATIONS_TABLE '" + std::string(table.substr(0, 200)) +
        "' is not a [schema.]table name of plain identifiers ([A-Za-z_][A-Za-z0-9_]*)");
  return std::string(table);
}

int compare_versions(std::string_view a, std::string_view b) {
  const auto left = version_parts(a);
  const auto right = version_parts(b);
  for (std::size_t i = 0; i < std::max(left.size(), right.size()); ++i) {
    std::string_view x = i < left.size() ? left[i] : "0";
    std::string_view y = i < right.size() ? right[i] : "0";
    if (all_digits(x) && all_digits(y)) {
      while (x.size() > 1 && x.front() == '0') x.remove_prefix(1);
      while (y.size() > 1 && y.front() == '0') y.remove_prefix(1);
      if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
    }
    if (int order = x.compare(y); order != 0) return order < 0 ? -1 : 1;
  }
  return 0;
}

PgConnection::PgConnection(const std::string& conninfo, Clock::time_point deadline)
    : secrets_(database_secrets(conninfo)) {
  const char* keywords[] = {"dbname", "fallback_application_name", nullptr};
  const char* values[] = {conninfo.c_str(), "monitoring-health", nullptr};
  conn_ = PQconnectStartParams(keywords, values, /*expand_dbname=*/1);
  if (conn_ == nullptr) throw Error("connection failed: out of memory");
  if (PQstatus(conn_) == CONNECTION_BAD) {
    std::string message = "connection failed: " + trim_message(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    throw Error(scrub_message(message, secrets_));
  }
  PostgresPollingStatusType state = PGRES_POLLING_WRITING;
  try {
    while (state != PGRES_POLLING_OK) {
      if (state == PGRES_POLLING_FAILED) fail("connection failed");
      wait(state == PGRES_POLLING_WRITING, deadline, "timeout while connecting");
      state = PQconnectPoll(conn_);
    }
  } catch (...) {
    PQfinish(conn_);
    conn_ = nullptr;
    throw;
  }
}

PgConnection::~PgConnection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

int PgConnection::server_version() const noexcept {
  return PQserverVersion(conn_);
}

void PgConnection::fail(std::string_view what) const {
  throw Error(
      scrub_message(std::string(what) + ": " + trim_message(PQerrorMessage(conn_)), secrets_));
}

void PgConnection::wait(bool for_write, Clock::time_point deadline, std::string_view what) const {
  const int fd = PQsocket(conn_);
  if (fd < 0) fail("connection lost");
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - kDeadlineMargin - Clock::now());
    if (left.count() <= 0) throw Error(std::string(what));
    pollfd entry{fd, static_cast<short>(for_write ? POLLOUT : POLLIN), 0};
    const int ready = ::poll(&entry, 1, static_cast<int>(left.count()));
    if (ready > 0) return;
    if (ready < 0 && errno != EINTR) throw Error(std::string(what) + ": poll failed");
  }
}

std::vector<PgConnection::Row> PgConnection::query(const std::string& sql,
                                                   const std::vector<std::string>& params,
                                                   Clock::time_point deadline) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param.c_str());
  // Non-blocking mode: PQsendQueryParams queues instead of blocking on a full socket buffer.
  if (PQsetnonblocking(conn_, 1) != 0) fail("query failed");
  if (PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(params.size()), nullptr, values.data(),
                        nullptr, nullptr, 0) == 0)
    fail("query failed");
  while (true) {
    const int flushed = PQflush(conn_);
    if (flushed == 0) break;
    if (flushed < 0) fail("query failed");
    wait(true, deadline, "timeout while sending the query");
  }

  std::vector<Row> rows;
  std::string error;
  while (true) {
    while (PQisBusy(conn_) == 0) {
      ResultPtr result(PQgetResult(conn_));
      if (!result) {
        if (!error.empty()) throw Error(scrub_message(error, secrets_));
        return rows;
      }
      const ExecStatusType status = PQresultStatus(result.get());
      if (status == PGRES_TUPLES_OK) {
        const int columns = PQnfields(result.get());
        for (int r = 0; r < PQntuples(result.get()); ++r) {
          Row row;
          row.reserve(static_cast<std::size_t>(columns));
          for (int c = 0; c < columns; ++c) {
            if (PQgetisnull(result.get(), r, c))
              row.emplace_back(std::nullopt);
            else
              row.emplace_back(PQgetvalue(result.get(), r, c));
          }
          rows.push_back(std::move(row));
        }
      } else if (status != PGRES_COMMAND_OK && error.empty()) {
        error = "query failed: " + trim_message(PQresultErrorMessage(result.get()));
      }
    }
    wait(false, deadline, "timeout waiting for the query result");
    if (PQconsumeInput(conn_) == 0) fail("query failed");
  }
}

namespace {

// One migration layout: what it is called and how to read its state.
CheckResult alembic_state(PgConnection& db, const std::string& table, const std::string& expected,
                          Clock::time_point deadline) {
  auto rows = db.query("SELECT version_num FROM " + table, {}, deadline);
  std::vector<std::string> heads;
  for (const auto& row : rows)
    if (!row.empty() && row[0]) heads.push_back(*row[0]);
  if (heads.empty())
    return CheckResult::unhealthy("alembic: no migration applied (" + table + " is empty)");
  std::string list;
  for (const auto& head : heads) list += (list.empty() ? "" : ", ") + head;
  if (!expected.empty() && std::find(heads.begin(), heads.end(), expected) == heads.end())
    return CheckResult::unhealthy("alembic: at revision " + list + ", expected " + expected);
  return CheckResult::healthy("alembic: at revision " + list);
}

CheckResult golang_migrate_state(PgConnection& db, const std::string& table,
                                 const std::string& expected, Clock::time_point deadline) {
  auto rows =
      db.query("SELECT version::text, dirty::text FROM " + table + " LIMIT 1", {}, deadline);
  if (rows.empty() || rows[0].size() < 2 || !rows[0][0])
    return CheckResult::unhealthy("golang-migrate: no migration applied (" + table + " is empty)");
  const std::string version = *rows[0][0];
  const bool dirty = rows[0][1] && (*rows[0][1] == "true" || *rows[0][1] == "t");
  if (dirty)
    return CheckResult::unhealthy(
        "golang-migrate: version " + version +
        " is dirty (a migration failed halfway; fix it and force the version)");
  if (!expected.empty() && compare_versions(version, expected) < 0)
    return CheckResult::unhealthy("golang-migrate: at version " + version + ", expected at least " +
                                  expected);
  return CheckResult::healthy("golang-migrate: at version " + version);
}

CheckResult flyway_state(PgConnection& db, const std::string& table, const std::string& expected,
                         Clock::time_point deadline) {
  auto rows = db.query("SELECT version, success::text FROM " + table + " ORDER BY installed_rank",
                       {}, deadline);
  std::string current;
  for (const auto& row : rows) {
    if (row.size() < 2) continue;
    const bool success = row[1] && (*row[1] == "true" || *row[1] == "t");
    const std::string version = row[0] ? *row[0] : std::string("(repeatable)");
    if (!success) return CheckResult::unhealthy("flyway: migration " + version + " failed");
    if (row[0]) current = *row[0];
  }
  if (current.empty()) return CheckResult::unhealthy("flyway: no versioned migration applied");
  if (!expected.empty() && compare_versions(current, expected) < 0)
    return CheckResult::unhealthy("flyway: at version " + current + ", expected at least " +
                                  expected);
  return CheckResult::healthy("flyway: at version " + current);
}

}  // namespace

}  // namespace detail

CheckFunction postgres_check(std::string database_url) {
  auto conninfo = std::make_shared<const std::string>(detail::normalize_database_url(database_url));
  return [conninfo](const CheckContext& context) {
    detail::PgConnection db(*conninfo, context.deadline);
    auto rows = db.query("SELECT 1", {}, context.deadline);
    if (rows.size() != 1 || rows[0].empty() || rows[0][0] != "1")
      return CheckResult::unhealthy("SELECT 1 returned an unexpected result");
    const int version = db.server_version();
    return CheckResult::healthy("ok (PostgreSQL " + std::to_string(version / 10000) + "." +
                                std::to_string(version % 10000) + ")");
  };
}

CheckFunction postgres_pool_check(std::function<void(std::string_view sql)> execute) {
  if (!execute) throw Error("postgres_pool_check: the execute callable is empty");
  return [execute = std::move(execute)](const CheckContext&) {
    execute("SELECT 1");
    return CheckResult::healthy("ok (application pool)");
  };
}

CheckFunction migrations_check(std::string database_url, std::string table,
                               std::string expected_version) {
  auto conninfo = std::make_shared<const std::string>(detail::normalize_database_url(database_url));
  if (table.empty()) table = "alembic_version";
  table = detail::validate_table_name(table);
  return [conninfo, table = std::move(table),
          expected = std::move(expected_version)](const CheckContext& context) {
    detail::PgConnection db(*conninfo, context.deadline);
    auto columns = db.query(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 "
        "AND NOT attisdropped",
        {table}, context.deadline);
    if (columns.empty())
      return CheckResult::unhealthy("migrations table " + table + " does not exist");
    auto has = [&](std::string_view name) {
      return std::any_of(columns.begin(), columns.end(),
                         [&](const auto& row) { return !row.empty() && row[0] == name; });
    };
    if (has("version") && has("dirty"))
      return detail::golang_migrate_state(db, table, expected, context.deadline);
    if (has("success") && has("installed_rank") && has("version"))
      return detail::flyway_state(db, table, expected, context.deadline);
    if (has("version_num")) return detail::alembic_state(db, table, expected, context.deadline);
    return CheckResult::unhealthy(
        "migrations table " + table +
        " has an unknown layout (expected Alembic, golang-migrate or Flyway)");
  };
}

}  // namespace monitoring::health
