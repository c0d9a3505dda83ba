// Coroutines run by monitoring::spawn keep their own request context, Sentry thread scope and
// active span across co_await and thread hops (<monitoring/monitor/coroutine.hpp>).

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ingest_peer.hpp"
#include "monitoring/context.hpp"
#include "monitoring/logging.hpp"
#include "monitoring/monitor/coroutine.hpp"
#include "monitoring/sentry.hpp"
#include "support/eventually.hpp"

namespace asio = boost::asio;
namespace sentry = monitoring::sentry;
namespace context = monitoring::context;
using monitoring::testing::eventually;
using sentry_test::IngestPeer;
using namespace std::chrono_literals;

namespace {

/// The thread running the calling piece of a coroutine. Not std::this_thread::get_id() in the
/// coroutine itself: glibc declares pthread_self() __attribute__((const)), and clang 14 (which
/// optimizes a coroutine as one function before splitting it at its suspension points) reuses
/// an id read before a co_await after it, so a coroutine that resumed elsewhere would see the
/// thread it left. The empty asm keeps clang from inferring that this function is const too.
[[gnu::noinline]] std::thread::id running_thread() {
  asm volatile("" ::: "memory");
  return std::this_thread::get_id();
}

/// What the log record observer saw of one record.
struct SeenRecord {
  std::string message, user_id, request_id, trace_id, coro;
};

/// Collects the records the logging backend formats (after the context was merged in).
class RecordCollector {
 public:
  RecordCollector() {
    subscription_ = monitoring::logging::subscribe_records(
        [this](const monitoring::logging::RecordView& record) {
          SeenRecord seen{std::string(record.message), std::string(record.user_id),
                          std::string(record.request_id), std::string(record.trace_id), ""};
          for (const monitoring::Field& field : record.fields)
            if (field.key == "coro") seen.coro = std::to_string(field.value.as_int());
          std::lock_guard lock(mutex_);
          records_.push_back(std::move(seen));
        },
        monitoring::logging::Level::kInfo);
  }
  ~RecordCollector() { subscription_.reset(); }
  std::vector<SeenRecord> records() const {
    std::lock_guard lock(mutex_);
    return records_;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return records_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<SeenRecord> records_;
  monitoring::logging::RecordSubscription subscription_;  // last: unsubscribed first
};

std::string tag(const test_json::Value& event, std::string_view key) {
  const test_json::Value* tags = event.find("tags");
  const test_json::Value* value = tags ? tags->find(key) : nullptr;
  return value ? value->string : std::string();
}

std::string user_id(const test_json::Value& event) {
  const test_json::Value* user = event.find("user");
  const test_json::Value* id = user ? user->find("id") : nullptr;
  return id ? id->string : std::string();
}

class CoroutineContextConcurrency : public ::testing::Test {
 protected:
  void SetUp() override {
    sentry::set_user({});  // the global scope outlives other tests; the events here judge users
    log_dir_ = std::filesystem::temp_directory_path() /
               ("monitoring-coroutine-context-" + std::to_string(::getpid()));
    monitoring::logging::LoggingOptions options;
    options.log_dir = log_dir_.string();
    options.console = monitoring::logging::ConsoleTarget::kNone;
    monitoring::logging::configure(options);
  }
  void TearDown() override {
    sentry::close(2s);
    monitoring::logging::shutdown();
    std::filesystem::remove_all(log_dir_);
  }

  std::filesystem::path log_dir_;
};

constexpr int kCoroutines = 1000;
constexpr int kThreads = 4;

// Per coroutine: what it set and what it saw. Each slot is written only by its coroutine
// (one piece at a time) and read after the io_context threads joined.
struct Outcome {
  std::string trace_id;
  int mismatches = 0;
  bool hopped = false;
};

asio::awaitable<void> interleaved(int index, monitoring::logging::StructuredLogger& logger,
                                  Outcome& outcome) {
  const std::string id = std::to_string(index);
  const std::string request_id = "req-" + id;
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  const auto started_on = running_thread();
  auto check = [&](std::string_view where) {
    const monitoring::ContextSnapshot now = context::current();
    if (now.user_id() != id || now.request_id() != request_id) {
      ++outcome.mismatches;
      ADD_FAILURE() << "coroutine " << index << " at " << where << " sees user '" << now.user_id()
                    << "', request '" << now.request_id() << "'";
    }
    if (running_thread() != started_on) outcome.hopped = true;
  };

  co_await asio::post(executor, asio::use_awaitable);
  auto user = logger.with_user(index);
  auto request = logger.with_request_id(request_id);
  sentry::ThreadScope scope;
  scope.set_tag("coro", id);
  auto transaction = sentry::start_transaction("coro-" + id, "task");
  outcome.trace_id = transaction.trace_id();

  timer.expires_after(std::chrono::microseconds(100 * (index % 3)));
  co_await timer.async_wait(asio::use_awaitable);
  check("after the first timer");
  logger.info("step", {{"coro", index}});

  co_await asio::post(executor, asio::use_awaitable);
  check("after a post");
  auto span = sentry::start_span("step", id);
  if (span.trace_id() != outcome.trace_id) {
    ++outcome.mismatches;
    ADD_FAILURE() << "coroutine " << index << ": span of another trace " << span.trace_id();
  }

  co_await asio::post(executor, asio::use_awaitable);
  check("inside the span");
  if (context::current().span_id() != span.span_id()) {
    ++outcome.mismatches;
    ADD_FAILURE() << "coroutine " << index << ": active span " << context::current().span_id();
  }
  if (index % 2 == 0) {
    sentry::capture_message("message " + id, sentry::Level::kWarning);
  } else {
    try {
      throw std::runtime_error("failure " + id);
    } catch (const std::exception&) {
      sentry::capture_exception();
    }
  }

  timer.expires_after(std::chrono::microseconds(100 * (index % 5)));
  co_await timer.async_wait(asio::use_awaitable);
  check("after the second timer");
  logger.info("done", {{"coro", index}});
  span.finish();
  transaction.finish();
}

}  // namespace

TEST_F(CoroutineContextConcurrency, ThousandInterleavedCoroutinesKeepTheirOwnIds) {
  IngestPeer peer;
  sentry::Options options;
  options.dsn = peer.dsn();
  options.capture_logs = false;  // the collector below observes the records instead
  options.traces_sample_rate = 1.0;
  options.queue_size = 4 * kCoroutines;
  sentry::init(options);
  RecordCollector collector;
  monitoring::logging::StructuredLogger logger("coroutines");

  asio::io_context io(kThreads);
  std::vector<Outcome> outcomes(kCoroutines);
  std::atomic<int> finished{0};
  for (int i = 0; i < kCoroutines; ++i)
    monitoring::spawn(io, interleaved(i, logger, outcomes[i]),
                      [&finished](std::exception_ptr error) {
                        if (error) ADD_FAILURE() << "a coroutine threw";
                        ++finished;
                      });

  // After the run, each thread's own state must be what it was: empty.
  std::atomic<int> dirty_threads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      io.run();
      if (!context::current().empty() || sentry::start_span("probe").active()) ++dirty_threads;
      sentry::capture_message("after the run", sentry::Level::kInfo);
      logger.info("after the run");
    });
  for (auto& thread : threads) thread.join();
  ASSERT_EQ(finished.load(), kCoroutines);
  EXPECT_EQ(dirty_threads.load(), 0);

  int mismatches = 0, hopped = 0;
  for (const Outcome& outcome : outcomes) {
    mismatches += outcome.mismatches;
    hopped += outcome.hopped ? 1 : 0;
  }
  EXPECT_EQ(mismatches, 0);
  // How many changed threads depends on the scheduler (on a loaded machine one thread may run
  // nearly everything); ScopesFollowATaskThatResumesOnAnotherThread forces a change.
  RecordProperty("coroutines_that_changed_threads", hopped);

  // Log records: every one carries its own coroutine's user, request id and trace.
  const std::size_t expected_records = 2 * kCoroutines + kThreads;
  ASSERT_TRUE(eventually([&] { return collector.size() >= expected_records; }, 30s))
      << collector.size();
  int record_mismatches = 0;
  for (const SeenRecord& record : collector.records()) {
    if (record.message == "after the run") {
      record_mismatches += record.user_id.empty() && record.request_id.empty() ? 0 : 1;
      continue;
    }
    const int index = std::stoi(record.coro);
    const bool ok = record.user_id == record.coro && record.request_id == "req-" + record.coro &&
                    record.trace_id == outcomes[index].trace_id;
    if (!ok) {
      ++record_mismatches;
      ADD_FAILURE() << "record of coroutine " << record.coro << " has user '" << record.user_id
                    << "', request '" << record.request_id << "'";
    }
  }
  EXPECT_EQ(record_mismatches, 0);

  // Sentry events and transactions, as the ingest endpoint received them.
  ASSERT_TRUE(sentry::flush(30s));
  const auto events = peer.with_item("event");
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kCoroutines + kThreads));
  int event_mismatches = 0, after_run = 0;
  for (const auto& envelope : events) {
    const test_json::Value& event = *envelope.item("event");
    const std::string coro = tag(event, "coro");
    if (coro.empty()) {
      ++after_run;
      event_mismatches += user_id(event).empty() && tag(event, "request_id").empty() ? 0 : 1;
      continue;
    }
    const int index = std::stoi(coro);
    const std::string text = index % 2 == 0 ? event["message"]["formatted"].string
                                            : event["exception"]["values"][0]["value"].string;
    const bool ok = user_id(event) == coro && tag(event, "request_id") == "req-" + coro &&
                    event["contexts"]["trace"]["trace_id"].string == outcomes[index].trace_id &&
                    text == (index % 2 == 0 ? "message " : "failure ") + coro;
    if (!ok) {
      ++event_mismatches;
      ADD_FAILURE() << "event of coroutine " << coro << " has user '" << user_id(event) << "'";
    }
  }
  EXPECT_EQ(event_mismatches, 0);
  EXPECT_EQ(after_run, kThreads);

  const auto transactions = peer.with_item("transaction");
  ASSERT_EQ(transactions.size(), static_cast<std::size_t>(kCoroutines));
  int span_mismatches = 0;
  for (const auto& envelope : transactions) {
    const test_json::Value& transaction = *envelope.item("transaction");
    const std::string id = transaction["transaction"].string.substr(5);  // "coro-<id>"
    const int index = std::stoi(id);
    bool ok = user_id(transaction) == id && tag(transaction, "request_id") == "req-" + id &&
              transaction["contexts"]["trace"]["trace_id"].string == outcomes[index].trace_id &&
              transaction["spans"].array.size() == 1;
    for (const auto& span : transaction["spans"].array)
      ok = ok && span["description"].string == id &&
           span["trace_id"].string == outcomes[index].trace_id;
    if (!ok) {
      ++span_mismatches;
      ADD_FAILURE() << "transaction of coroutine " << id << " has user '" << user_id(transaction)
                    << "'";
    }
  }
  EXPECT_EQ(span_mismatches, 0);
}

TEST_F(CoroutineContextConcurrency, TaskInheritsTheSpawnersContextAtSpawnTime) {
  asio::io_context io;
  auto user = context::with_user("parent");
  auto request = context::with_request_id("req-parent");
  std::string seen_user, seen_request, seen_late_field, user_after_child;
  auto child = [&]() -> asio::awaitable<void> {
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    seen_user = context::current().user_id();
    seen_request = context::current().request_id();
    seen_late_field = context::current().field("late") ? "present" : "absent";
    auto own = context::with_user("child");
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    user_after_child = context::current().user_id();
  };
  monitoring::spawn(io, child(), asio::detached);
  // Changed after the spawn: the task started with what the spawner had then.
  auto late = context::with_fields({{"late", true}});
  io.run();
  EXPECT_EQ(seen_user, "parent");
  EXPECT_EQ(seen_request, "req-parent");
  EXPECT_EQ(seen_late_field, "absent");
  EXPECT_EQ(user_after_child, "child");
  // The child's own scope stayed in the child.
  EXPECT_EQ(context::current().user_id(), "parent");
  EXPECT_NE(context::current().field("late"), nullptr);
}

namespace {

// Opens a user scope, a Sentry thread scope and a transaction, then suspends until a plain
// handler on the same thread has looked at that thread's state.
asio::awaitable<void> suspend_with_scopes(asio::io_context& io, monitoring::ContextSnapshot& seen,
                                          bool& span_seen, std::string& user_after) {
  auto user = context::with_user("inside");
  sentry::ThreadScope scope;
  scope.set_tag("where", "inside");
  auto transaction = sentry::start_transaction("suspended", "task");
  asio::steady_timer wake(co_await asio::this_coro::executor,
                          asio::steady_timer::time_point::max());
  asio::post(io.get_executor(), [&] {
    seen = context::current();
    span_seen = sentry::start_span("probe").active();
    wake.cancel();
  });
  boost::system::error_code cancelled;
  co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, cancelled));
  user_after = std::string(context::current().user_id());
}

}  // namespace

TEST_F(CoroutineContextConcurrency, ScopeOpenedInATaskDoesNotLeakToTheThreadWhileSuspended) {
  asio::io_context io;
  monitoring::ContextSnapshot seen;
  bool span_seen = true;
  std::string user_after;
  monitoring::spawn(io, suspend_with_scopes(io, seen, span_seen, user_after), asio::detached);
  io.run();
  EXPECT_TRUE(seen.empty()) << "the thread saw user '" << seen.user_id() << "'";
  EXPECT_FALSE(span_seen);
  EXPECT_EQ(user_after, "inside");
  EXPECT_TRUE(context::current().empty());
}

TEST_F(CoroutineContextConcurrency, WithoutATaskTheScopeStaysOnTheThread) {
  // What monitoring::spawn prevents: a plain co_spawn leaves the suspended coroutine's scope
  // on the thread, where unrelated work sees it.
  asio::io_context io;
  monitoring::ContextSnapshot seen;
  bool span_seen = false;
  std::string user_after;
  asio::co_spawn(io, suspend_with_scopes(io, seen, span_seen, user_after), asio::detached);
  io.run();
  EXPECT_EQ(seen.user_id(), "inside");
  EXPECT_TRUE(context::current().empty());  // the scope ended on the thread it began on
}

namespace {

asio::awaitable<std::string> nested_step(std::string& inner_fields) {
  auto fields = context::with_fields({{"step", "charge"}});
  auto user = context::with_user("7");
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  const monitoring::ContextSnapshot now = context::current();
  inner_fields = std::string(now.field("order") ? "order," : "") +
                 (now.field("step") ? "step," : "") + std::string(now.user_id());
  co_return std::string(now.request_id());
}

}  // namespace

TEST_F(CoroutineContextConcurrency, AwaitedSubCoroutineNestsLikeWithBlocks) {
  asio::io_context io;
  std::string inner_fields, inner_request, outer_after;
  auto outer = [&]() -> asio::awaitable<void> {
    auto request = context::with_request_id("req-nested");
    auto fields = context::with_fields({{"order", 1}});
    inner_request = co_await nested_step(inner_fields);
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    const monitoring::ContextSnapshot now = context::current();
    outer_after = std::string(now.field("order") ? "order," : "") +
                  (now.field("step") ? "step," : "") + (now.has_user() ? "user" : "no user");
  };
  // On a strand of a two-thread io_context: the wrapper also carries a strand's properties.
  monitoring::spawn(asio::make_strand(io), outer(), asio::detached);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back([&] { io.run(); });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(inner_fields, "order,step,7");
  EXPECT_EQ(inner_request, "req-nested");
  EXPECT_EQ(outer_after, "order,no user");
}

namespace {

// Opens scopes, then waits forever: only destroying the io_context ends it.
asio::awaitable<void> wait_forever(bool& suspended) {
  auto user = context::with_user("inside");
  sentry::ThreadScope scope;
  scope.set_tag("where", "inside");
  asio::steady_timer never(co_await asio::this_coro::executor,
                           asio::steady_timer::time_point::max());
  suspended = true;
  co_await never.async_wait(asio::use_awaitable);
}

}  // namespace

TEST_F(CoroutineContextConcurrency, DestroyingASuspendedTaskLeavesTheThreadsScopesAlone) {
  IngestPeer peer;
  sentry::Options options;
  options.dsn = peer.dsn();
  options.capture_logs = false;
  sentry::init(options);
  auto user = context::with_user("thread");
  sentry::ThreadScope scope;
  scope.set_tag("where", "thread");
  bool suspended = false;
  {
    asio::io_context io;
    monitoring::spawn(io, wait_forever(suspended), asio::detached);
    io.poll();
    ASSERT_TRUE(suspended);
    scope.set_tag("where", "thread, later");  // the thread moves on while the task waits
  }  // the io_context destroys the suspended coroutine here, outside its task
  EXPECT_EQ(context::current().user_id(), "thread");
  sentry::capture_message("after the io_context", sentry::Level::kInfo);
  ASSERT_TRUE(sentry::flush(10s));
  const auto events = peer.with_item("event");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(tag(*events[0].item("event"), "where"), "thread, later");
}

namespace {

// Suspends on one thread and is forced to resume on the other: a handler occupies the thread
// the coroutine left until the coroutine has run elsewhere. (Flags are the test's, not the
// frame's: the coroutine may end while the handler still looks at them.)
asio::awaitable<void> forced_hop(asio::io_context& io, std::string& seen_after_hop,
                                 bool& span_after_hop, bool& hopped,
                                 std::atomic<bool>& left_is_occupied, std::atomic<bool>& resumed) {
  auto user = context::with_user("hopper");
  auto request = context::with_request_id("req-hop");
  sentry::ThreadScope scope;
  scope.set_tag("where", "hopper");
  auto transaction = sentry::start_transaction("hop", "task");
  const auto left = running_thread();
  std::function<void()> occupy = [&] {
    if (std::this_thread::get_id() != left) {
      asio::post(io, occupy);  // not the thread the coroutine left: try again
      return;
    }
    left_is_occupied = true;
    EXPECT_TRUE(eventually([&resumed] { return resumed.load(); }));
  };
  asio::post(io, occupy);
  auto executor = co_await asio::this_coro::executor;
  // Once `left` is occupied, only the other thread can run this coroutine.
  while (!left_is_occupied) co_await asio::post(executor, asio::use_awaitable);
  hopped = running_thread() != left;
  const monitoring::ContextSnapshot now = context::current();
  seen_after_hop = std::string(now.user_id()) + "," + std::string(now.request_id());
  auto child = sentry::start_span("after.hop");
  span_after_hop = child.active() && child.trace_id() == transaction.trace_id() &&
                   now.span_id() == transaction.span_id();
  resumed = true;
}

}  // namespace

TEST_F(CoroutineContextConcurrency, ScopesFollowATaskThatResumesOnAnotherThread) {
  asio::io_context io(2);
  std::string seen_after_hop;
  bool span_after_hop = false, hopped = false;
  std::atomic<bool> left_is_occupied{false}, resumed{false};
  monitoring::spawn(
      io, forced_hop(io, seen_after_hop, span_after_hop, hopped, left_is_occupied, resumed),
      asio::detached);
  std::atomic<int> dirty_threads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      io.run();
      if (!context::current().empty() || sentry::start_span("probe").active()) ++dirty_threads;
    });
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(hopped);
  EXPECT_EQ(seen_after_hop, "hopper,req-hop");
  EXPECT_TRUE(span_after_hop);
  EXPECT_EQ(dirty_threads.load(), 0);
}
