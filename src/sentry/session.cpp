// Session payloads and the session files of the cache directory.

#include "sentry/session.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>

#include "core/json_writer.hpp"
#include "sentry/ids.hpp"
#include "sentry/signal_safe.hpp"

namespace monitoring::sentry::detail {

std::atomic<std::uint64_t> g_session_errors{0};

namespace {

constexpr std::string_view kHeader = "monitoring-session 1";

std::int64_t to_micros(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
}

std::string file_text(const Session& session, bool init_sent) {
  std::string out(kHeader);
  const auto line = [&out](std::string_view key, std::string_view value) {
    out.push_back('\n');
    out += key;
    out.push_back(' ');
    out += escape_field(value);
  };
  line("sid", session.sid);
  line("did", session.did);
  line("started", std::to_string(to_micros(session.started)));
  line("errors", std::to_string(session.errors));
  line("init_sent", init_sent ? "1" : "0");
  line("release", session.release);
  line("environment", session.environment);
  out.push_back('\n');
  return out;
}

/// Writes the whole text at the start of the file, then cuts what an older, longer text left.
bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t written =
        ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    done += static_cast<std::size_t>(written);
  }
  return ::ftruncate(fd, static_cast<off_t>(text.size())) == 0;
}

std::uint64_t parse_number(std::string_view text) {
  std::uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

}  // namespace

std::string session_json(const Session& session, const Scrubber& scrubber) {
  std::string out;
  monitoring::detail::JsonWriter json(out);
  json.begin_object();
  json.member("sid", session.sid);
  if (!session.did.empty()) json.member("did", scrubber.scrubbed(session.did));
  json.member("init", session.init);
  json.member("started", rfc3339(session.started));
  json.member("timestamp", rfc3339(session.timestamp));
  if (session.with_duration) {
    const auto duration = session.timestamp - session.started;
    json.member("duration",
                std::chrono::duration_cast<std::chrono::duration<double>>(duration).count());
  }
  json.member("status", session.status);
  json.member("errors", session.errors);
  json.key("attrs").begin_object();
  json.member("release", session.release);
  if (!session.environment.empty())
    json.member("environment", scrubber.scrubbed(session.environment));
  json.end_object();
  json.end_object();
  return out;
}

SessionFile::~SessionFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<SessionFile> SessionFile::create(const std::string& dir, const Session& session,
                                                 bool init_sent) {
  std::error_code ignored;
  std::filesystem::create_directories(dir, ignored);
  auto file = std::make_unique<SessionFile>();
  file->path_ = (std::filesystem::path(dir) / (session.sid + ".session")).string();
  file->fd_ = ::open(file->path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (file->fd_ < 0) return nullptr;
  // Locked before it holds anything: a start racing this one sees a locked file or none.
  if (::flock(file->fd_, LOCK_EX | LOCK_NB) != 0) {
    file->remove();
    return nullptr;
  }
  file->update(session, init_sent);
  return file;
}

std::unique_ptr<SessionFile> SessionFile::claim(const std::string& path) {
  auto file = std::make_unique<SessionFile>();
  file->path_ = path;
  file->fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (file->fd_ < 0) return nullptr;
  if (::flock(file->fd_, LOCK_EX | LOCK_NB) != 0) return nullptr;  // its process still runs
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line) || line != kHeader) {
    // Torn (the process died while creating it) or not ours: nothing to report.
    if (line.empty()) file->remove();
    return nullptr;
  }
  Session& session = file->session_;
  while (std::getline(in, line)) {
    const std::size_t space = line.find(' ');
    if (space == std::string::npos) continue;
    const std::string_view key = std::string_view(line).substr(0, space);
    const auto fields = split_escaped(std::string_view(line).substr(space + 1));
    const std::string value = fields.empty() ? std::string() : fields[0];
    if (key == "sid") {
      session.sid = value;
    } else if (key == "did") {
      session.did = value;
    } else if (key == "started") {
      session.started = std::chrono::system_clock::time_point(
          std::chrono::microseconds(static_cast<std::int64_t>(parse_number(value))));
    } else if (key == "errors") {
      session.errors = parse_number(value);
    } else if (key == "init_sent") {
      file->init_sent_ = value == "1";
    } else if (key == "release") {
      session.release = value;
    } else if (key == "environment") {
      session.environment = value;
    }
  }
  if (session.sid.empty() || session.release.empty()) {
    file->remove();
    return nullptr;
  }
  return file;
}

void SessionFile::update(const Session& session, bool init_sent) {
  session_ = session;
  init_sent_ = init_sent;
  if (fd_ >= 0) write_all(fd_, file_text(session, init_sent));
}

void SessionFile::remove() {
  std::error_code ignored;
  std::filesystem::remove(path_, ignored);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace monitoring::sentry::detail
