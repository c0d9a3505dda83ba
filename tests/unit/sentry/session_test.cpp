// Release health: one session per run of the client, as Sentry's fake ingest receives it. A
// clean run (init, errors, exited), a crash and a SIGKILL in a child process (crashed and
// abnormal, sent by the next start), and the cases without sessions.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ingest_peer.hpp"
#include "monitoring/sentry.hpp"
#include "report_support.hpp"

namespace {

namespace sentry = monitoring::sentry;
using sentry_test::IngestPeer;
using namespace std::chrono_literals;

constexpr std::string_view kRelease = "bot@3.1.4";
constexpr std::string_view kUnreachableDsn =
    "http://0123456789abcdef0123456789abcdef@127.0.0.1:9/42";

std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("monitoring-session-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

sentry::Options session_options(std::string_view dsn, const std::filesystem::path& dir) {
  sentry::Options options;
  options.dsn = std::string(dsn);
  options.environment = "staging";
  options.release = std::string(kRelease);
  options.cache_dir = dir.string();
  options.capture_logs = false;
  options.retry_backoff = 20ms;
  options.http_timeout = 2000ms;
  return options;
}

/// One session update as received, with the envelope it came in.
struct Update {
  test_json::Value session;
  bool with_event = false;
  std::string event_level;  ///< of the event it came with
};

std::vector<Update> session_updates(const IngestPeer& peer, const std::string& sid = {}) {
  std::vector<Update> out;
  for (const auto& envelope : peer.envelopes())
    for (const auto& [header, payload] : envelope.items)
      if (header["type"].string == "session" && (sid.empty() || payload["sid"].string == sid))
        out.push_back({payload, envelope.item("event") != nullptr,
                       envelope.item("event") ? (*envelope.item("event"))["level"].string : ""});
  return out;
}

std::size_t files_with(const std::filesystem::path& dir, const std::string& extension) {
  std::size_t count = 0;
  if (!std::filesystem::is_directory(dir)) return 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    count += entry.path().extension() == extension;
  return count;
}

/// The sid of the one session file in `dir` ("" when there is none).
std::string session_file_sid(const std::filesystem::path& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".session") return entry.path().stem().string();
  return {};
}

/// Every string and key of a JSON value, for looking for what must not be there.
std::string all_text(const test_json::Value& value) {
  std::string out = value.string + "\n";
  for (const auto& element : value.array) out += all_text(element);
  for (const auto& [key, member] : value.object) out += key + "\n" + all_text(member);
  return out;
}

/// The updates in the order received, for failure messages.
std::string describe(const std::vector<Update>& updates) {
  std::string out;
  for (const auto& update : updates)
    out += update.session["status"].string + (update.session["init"].boolean ? " init" : "") +
           " errors=" + update.session["errors"].number_text +
           (update.with_event ? " with " + update.event_level + " event" : "") + "\n";
  return out;
}

std::size_t init_count(const std::vector<Update>& updates) {
  std::size_t count = 0;
  for (const auto& update : updates) count += update.session["init"].boolean;
  return count;
}

class SentrySession : public ::testing::Test {
 protected:
  void TearDown() override {
    sentry::close(2s);
    sentry::set_user({});
  }
};

[[gnu::noinline]] void fail_payment() {
  throw std::runtime_error("card declined");
}

}  // namespace

TEST_F(SentrySession, ACleanRunSendsInitThenExitedWithItsDuration) {
  const auto dir = fresh_dir("clean");
  IngestPeer peer;
  sentry::init(session_options(peer.dsn(), dir));
  ASSERT_TRUE(sentry::flush(5s));
  auto updates = session_updates(peer);
  ASSERT_EQ(updates.size(), 1u);
  const test_json::Value first = updates[0].session;
  EXPECT_TRUE(first["init"].boolean);
  EXPECT_EQ(first["status"].string, "ok");
  EXPECT_EQ(first["errors"].number, 0);
  EXPECT_EQ(first["sid"].string.size(), 36u) << "a UUID";
  EXPECT_EQ(first["attrs"]["release"].string, kRelease);
  EXPECT_EQ(first["attrs"]["environment"].string, "staging");
  EXPECT_FALSE(first["started"].string.empty());
  EXPECT_EQ(files_with(dir, ".session"), 1u) << "the open session is kept for the next start";

  sentry::close(5s);
  updates = session_updates(peer);
  ASSERT_EQ(updates.size(), 2u);
  const test_json::Value last = updates[1].session;
  EXPECT_EQ(last["sid"].string, first["sid"].string);
  EXPECT_FALSE(last["init"].boolean);
  EXPECT_EQ(last["status"].string, "exited");
  EXPECT_EQ(last["started"].string, first["started"].string);
  ASSERT_TRUE(last.has("duration"));
  EXPECT_GE(last["duration"].number, 0.0);
  EXPECT_GE(last["timestamp"].string, first["timestamp"].string);
  EXPECT_EQ(files_with(dir, ".session"), 0u) << "ended: nothing left for the next start";
  for (const auto& update : updates)
    EXPECT_EQ(all_text(update.session).find("0123456789abcdef0123456789abcdef"), std::string::npos)
        << "the DSN key never goes into a session";
  std::filesystem::remove_all(dir);
}

TEST_F(SentrySession, EachFailureCountsOnceAndErrorEventsCarryTheCount) {
  sentry_test::LogToTempDir logs;  // error_handler logs the failure it captures
  const auto dir = fresh_dir("errors");
  IngestPeer peer;
  auto options = session_options(peer.dsn(), dir);
  options.capture_logs = true;  // the logged failure must not count a second time
  sentry::set_user({.id = "user-42"});
  sentry::init(options);
  ASSERT_TRUE(sentry::flush(5s));  // the init update, before the failures
  auto pay = sentry::error_handler({{"module", "billing"}}, [] { fail_payment(); });
  EXPECT_THROW(pay(), std::runtime_error);  // captured, logged and rethrown: one failure
  std::exception_ptr error;
  try {
    fail_payment();
  } catch (...) {
    error = std::current_exception();
  }
  EXPECT_FALSE(sentry::capture_exception(error).empty());
  EXPECT_TRUE(sentry::capture_exception(error).empty()) << "the same exception object";
  sentry::capture_message("cache warmed", sentry::Level::kInfo);  // not an error
  ASSERT_TRUE(sentry::flush(5s));
  const auto events = peer.with_item("event");
  ASSERT_EQ(events.size(), 3u);  // two failures and the info message
  sentry::close(5s);

  const auto updates = session_updates(peer);
  ASSERT_GE(updates.size(), 2u);
  const std::string sid = updates.front().session["sid"].string;
  double errors_seen_with_events = 0;
  for (const auto& update : updates) {
    EXPECT_EQ(update.session["sid"].string, sid) << "one session per run";
    EXPECT_NE(update.session["status"].string, "errored") << "not a status an SDK sends";
    if (update.with_event)
      errors_seen_with_events = std::max(errors_seen_with_events, update.session["errors"].number);
  }
  EXPECT_EQ(errors_seen_with_events, 2) << "an error event carries the session's count";
  EXPECT_EQ(init_count(updates), 1u) << describe(updates);
  const test_json::Value& last = updates.back().session;
  EXPECT_EQ(last["status"].string, "exited") << "errored is status ok with errors > 0";
  EXPECT_EQ(last["errors"].number, 2);
  EXPECT_EQ(last["did"].string, "user-42");
  std::filesystem::remove_all(dir);
}

TEST_F(SentrySession, SecretsInTheUserIdAreScrubbedOutOfTheSession) {
  IngestPeer peer;
  sentry::set_user({.id = "token=abcdef123456"});
  sentry::init(session_options(peer.dsn(), {}));
  sentry::close(5s);
  const auto updates = session_updates(peer);
  ASSERT_FALSE(updates.empty());
  for (const auto& update : updates) {
    EXPECT_EQ(all_text(update.session).find("abcdef123456"), std::string::npos)
        << update.session["did"].string;
  }
  EXPECT_NE(updates.back().session["did"].string.find("[Filtered]"), std::string::npos);
}

TEST_F(SentrySession, UpdatesThatCannotBeSentAreCachedAndSentInOrderByTheNextStart) {
  const auto dir = fresh_dir("offline");
  auto offline = session_options(kUnreachableDsn, dir);
  offline.max_retries = 0;
  sentry::init(offline);
  ASSERT_TRUE(sentry::flush(5s));  // the init update is cached before the failure
  sentry::capture_message("payment failed", sentry::Level::kError);
  sentry::close(5s);
  EXPECT_EQ(files_with(dir, ".session"), 0u) << "ended, though not sent yet";
  ASSERT_GE(files_with(dir, ".envelope"), 3u) << "init, the event with the count, exited";

  IngestPeer peer;
  auto online = session_options(peer.dsn(), dir);
  online.auto_session_tracking = false;  // only what the first run left
  sentry::init(online);
  ASSERT_TRUE(sentry::flush(10s));
  const auto updates = session_updates(peer);
  ASSERT_EQ(updates.size(), 3u) << describe(updates);
  EXPECT_TRUE(updates[0].session["init"].boolean);
  EXPECT_TRUE(updates[1].with_event);
  EXPECT_EQ(updates[1].session["errors"].number, 1);
  EXPECT_EQ(updates[2].session["status"].string, "exited");
  EXPECT_EQ(updates[2].session["errors"].number, 1);
  EXPECT_EQ(files_with(dir, ".envelope"), 0u);
  std::filesystem::remove_all(dir);
}

TEST_F(SentrySession, RateLimitedSessionUpdatesAreDroppedAndReported) {
  IngestPeer peer;
  peer.set_answer([](int number) -> monitoring::testing::CannedAnswer {
    if (number == 1)  // the init update: sessions limited from now on, events not
      return {monitoring::testing::http_answer(429, "Too Many Requests", "{}",
                                               {{"X-Sentry-Rate-Limits", "3600:session:key"}})};
    return {monitoring::testing::http_answer(200, "OK", "{}")};
  });
  sentry::init(session_options(peer.dsn(), {}));
  ASSERT_TRUE(sentry::flush(5s));
  sentry::capture_message("payment failed", sentry::Level::kError);
  ASSERT_TRUE(sentry::flush(5s));
  sentry::close(5s);  // the exited update is limited too
  EXPECT_EQ(peer.with_item("event").size(), 1u) << "errors are not limited";
  EXPECT_TRUE(session_updates(peer).empty()) << describe(session_updates(peer));
  double dropped = 0;
  for (const auto& envelope : peer.with_item("client_report"))
    for (const auto& discarded : (*envelope.item("client_report"))["discarded_events"].array)
      if (discarded["category"].string == "session" &&
          discarded["reason"].string == "ratelimit_backoff")
        dropped += discarded["quantity"].number;
  EXPECT_EQ(dropped, 2) << "init and exited, accounted for like dropped events";
}

TEST_F(SentrySession, SampledOutErrorsStillCount) {
  IngestPeer peer;
  auto options = session_options(peer.dsn(), {});
  options.sample_rate = 0.0;  // no error event is sent, the crash-free rate must not change
  sentry::init(options);
  sentry::capture_message("lost connection", sentry::Level::kError);
  sentry::close(5s);
  EXPECT_TRUE(peer.with_item("event").empty());
  const auto updates = session_updates(peer);
  ASSERT_FALSE(updates.empty());
  EXPECT_EQ(updates.back().session["status"].string, "exited");
  EXPECT_EQ(updates.back().session["errors"].number, 1);
}

TEST_F(SentrySession, ACrashInAChildIsSentCrashedWithTheCrashEventOnTheNextStart) {
  const auto dir = fresh_dir("crash");
  const pid_t pid = ::fork();
  if (pid == 0) {
    auto options = session_options(kUnreachableDsn, dir);
    options.max_retries = 0;
    sentry::init(options);
    sentry::capture_message("first failure", sentry::Level::kError);
    // Its updates are cached (the DSN is unreachable) before it crashes: the next start
    // sends them, then the crashed one.
    if (!sentry::flush(5s)) ::_exit(3);
    std::abort();
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "status " << status;
  ASSERT_EQ(files_with(dir, ".crash"), 1u);
  const std::string child_sid = session_file_sid(dir);
  ASSERT_FALSE(child_sid.empty()) << "the child's open session is in the cache directory";

  IngestPeer peer;
  auto options = session_options(peer.dsn(), dir);
  options.release = "bot@3.1.5";  // the next start may run another release
  sentry::init(options);
  ASSERT_TRUE(sentry::flush(10s));
  const auto updates = session_updates(peer, child_sid);
  const auto crashed_at = std::find_if(updates.begin(), updates.end(), [](const Update& update) {
    return update.session["status"].string == "crashed";
  });
  ASSERT_NE(crashed_at, updates.end());
  const Update& crashed = *crashed_at;
  EXPECT_TRUE(crashed.with_event) << "sent together with the crash event";
  EXPECT_EQ(crashed.session["errors"].number, 2) << "the error before the crash, and the crash";
  EXPECT_EQ(crashed.session["attrs"]["release"].string, kRelease) << "the crashed run's release";
  EXPECT_TRUE(crashed.session.has("duration"));
  EXPECT_EQ(init_count(updates), 1u) << "Sentry learns of the session exactly once\n"
                                     << describe(updates);
  for (const auto& update : updates) EXPECT_NE(update.session["status"].string, "abnormal");
  EXPECT_EQ(crashed.event_level, "fatal") << "the crash event";
  EXPECT_EQ(files_with(dir, ".crash"), 0u);
  sentry::close(5s);
  EXPECT_EQ(files_with(dir, ".session"), 0u);
  std::filesystem::remove_all(dir);
}

TEST_F(SentrySession, AKilledChildIsSentAbnormalByTheNextStartNotWhileItRuns) {
  const auto dir = fresh_dir("killed");
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    auto options = session_options(kUnreachableDsn, dir);
    options.max_retries = 0;
    sentry::init(options);
    if (!sentry::flush(5s)) ::_exit(3);  // its init update is cached
    const char byte = 1;
    if (::write(ready[1], &byte, 1) != 1) ::_exit(2);
    ::pause();  // until SIGKILL
    ::_exit(0);
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  ::close(ready[0]);
  const std::string child_sid = session_file_sid(dir);
  ASSERT_FALSE(child_sid.empty());

  IngestPeer peer;
  {
    sentry::init(session_options(peer.dsn(), dir));  // the child still runs
    ASSERT_TRUE(sentry::flush(5s));
    sentry::close(5s);
    // Its cached init update may go out with this start (the cache is shared); it does not end.
    for (const auto& update : session_updates(peer, child_sid))
      EXPECT_EQ(update.session["status"].string, "ok") << "a running process's session";
    EXPECT_EQ(files_with(dir, ".session"), 1u);
  }

  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  sentry::init(session_options(peer.dsn(), dir));
  ASSERT_TRUE(sentry::flush(10s));
  const auto updates = session_updates(peer, child_sid);
  ASSERT_FALSE(updates.empty());
  const test_json::Value& abnormal = updates.back().session;
  EXPECT_EQ(abnormal["status"].string, "abnormal");
  EXPECT_FALSE(abnormal.has("duration")) << "when it died is unknown";
  EXPECT_EQ(abnormal["attrs"]["release"].string, kRelease);
  EXPECT_EQ(init_count(updates), 1u) << describe(updates);
  sentry::close(5s);
  EXPECT_EQ(files_with(dir, ".session"), 0u);
  std::filesystem::remove_all(dir);
}

TEST_F(SentrySession, NoReleaseOrTrackingOffMeansNoSessions) {
  const auto dir = fresh_dir("off");
  IngestPeer peer;
  auto without_release = session_options(peer.dsn(), dir);
  without_release.release.clear();
  auto switched_off = session_options(peer.dsn(), dir);
  switched_off.auto_session_tracking = false;
  for (const auto& options : {without_release, switched_off}) {
    sentry::init(options);
    sentry::capture_message("payment failed", sentry::Level::kError);
    ASSERT_TRUE(sentry::flush(5s));
    EXPECT_EQ(files_with(dir, ".session"), 0u);
    sentry::close(5s);
  }
  EXPECT_EQ(peer.with_item("event").size(), 2u);
  EXPECT_TRUE(session_updates(peer).empty());
  std::filesystem::remove_all(dir);
}

TEST_F(SentrySession, InitRejectsAReleaseSentryWouldNotAcceptNamingTheProblem) {
  IngestPeer peer;
  const std::pair<std::string, std::string> cases[] = {
      {"bot/1.0", "'/'"},
      {"..", "\"..\""},
      {"   ", "blank"},
      {"bot\n1.0", "control characters"},
      {std::string(201, 'a'), "at most 200 characters"},
  };
  for (const auto& [release, problem] : cases) {
    auto options = session_options(peer.dsn(), {});
    options.release = release;
    try {
      sentry::init(options);
      ADD_FAILURE() << "accepted " << release;
    } catch (const sentry::SentryError& error) {
      const std::string what = error.what();
      EXPECT_NE(what.find("release"), std::string::npos) << what;
      EXPECT_NE(what.find(problem), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what;
    }
    EXPECT_FALSE(sentry::is_enabled());
  }
  EXPECT_EQ(sentry::release_problem("bot@1.0+build.7"), "");
}

TEST(SessionConcurrency, ErrorsFromManyThreadsAreCountedExactlyOnce) {
  IngestPeer peer;
  auto options = session_options(peer.dsn(), {});
  options.queue_size = 8;  // most events overflow: their failures still count
  sentry::init(options);
  constexpr int kThreads = 4;
  constexpr int kFailures = 50;
  std::exception_ptr shared;
  try {
    fail_payment();
  } catch (...) {
    shared = std::current_exception();
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kFailures; ++i) {
        sentry::capture_message("timeout", sentry::Level::kError);
        sentry::capture_exception(shared);  // one object: one failure for all threads
      }
    });
  for (auto& thread : threads) thread.join();
  sentry::close(10s);
  const auto updates = session_updates(peer);
  ASSERT_FALSE(updates.empty());
  EXPECT_EQ(updates.back().session["status"].string, "exited");
  EXPECT_EQ(updates.back().session["errors"].number, kThreads * kFailures + 1);
}
