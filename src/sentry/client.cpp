// The client object: its worker thread (intake first, then work from the cache directory),
// flush and close, drop accounting for client reports and the dropped-events counter, and the
// publication of the running client. Sending is in transport.cpp, files in offline_cache.cpp.

#include "sentry/client.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "monitoring/logging/options.hpp"
#include "monitoring/metrics/registry.hpp"
#include "sentry/crash.hpp"
#include "sentry/debug_images.hpp"
#include "sentry/ids.hpp"
#include "sentry/offline_cache.hpp"
#include "sentry/scope.hpp"
#include "sentry/signal_safe.hpp"

namespace monitoring::sentry::detail {

std::mutex g_client_mutex;
std::shared_ptr<Client> g_client;
std::atomic<std::uint64_t> g_client_version{1};

namespace {

// Worker threads still running, detached ones included (tests wait for them to end).
std::atomic<int> live_workers{0};

// The exit gate (stop_workers_for_exit). Workers count themselves in g_running_workers while
// they run code, and out while blocked in a BlockingSection. Both sides use sequentially
// consistent operations: a worker that leaves a blocking section after the exit began either
// sees g_exiting, or was counted before the exiting thread looked, which then waits for it.
// Plain atomics: they outlive every static destructor a parked worker could race with.
std::atomic<int> g_running_workers{0};
std::atomic<bool> g_exiting{false};

// Workers close() gave up on. They are not detached: the exit joins those that have ended,
// so none is still tearing down its thread (freeing its TLS) while the process exits. Leaked
// on purpose, like everything the exit still uses.
struct AbandonedWorker {
  std::thread thread;
  std::shared_ptr<const std::atomic<bool>> ended;  // set as the thread's last step
};
struct AbandonedWorkers {
  std::mutex mutex;
  std::vector<AbandonedWorker> workers;
};
AbandonedWorkers& abandoned_workers() {
  static auto* workers = new AbandonedWorkers();
  return *workers;
}

/// Joins the abandoned workers that have ended (each at most a thread exit away).
void join_ended_workers() noexcept {
  AbandonedWorkers& abandoned = abandoned_workers();
  std::lock_guard lock(abandoned.mutex);
  std::erase_if(abandoned.workers, [](AbandonedWorker& worker) {
    if (!worker.ended->load()) return false;
    worker.thread.join();
    return true;
  });
}

[[noreturn]] void park_for_exit() noexcept {
  for (;;) ::pause();
}

void enter_running() noexcept {
  g_running_workers.fetch_add(1);
  if (g_exiting.load()) {
    g_running_workers.fetch_sub(1);
    park_for_exit();
  }
}

/// monitoring_sentry_events_dropped_total{reason, category}; null when it cannot be made.
metrics::Counter* dropped_series(std::string_view reason, std::string_view category) noexcept {
  try {
    static auto& dropped = metrics::Registry::default_registry().counter(
        "monitoring_sentry_events_dropped_total",
        "Sentry events and transactions not delivered, by client-report reason.",
        {"reason", "category"});
    return &dropped.labels(reason, category);
  } catch (...) {  // the counter is an extra; reporting works without it
    return nullptr;
  }
}

constexpr std::pair<std::string_view, std::string_view> kLockFreeDropNames[] = {
    {"sample_rate", "error"}, {"queue_overflow", "error"}, {"queue_overflow", "transaction"}};

}  // namespace

void publish_client(std::shared_ptr<Client> client) {
  std::lock_guard lock(g_client_mutex);
  g_client = std::move(client);
  g_client_version.fetch_add(1, std::memory_order_release);
}

std::shared_ptr<Client> unpublish_client() {
  std::lock_guard lock(g_client_mutex);
  std::shared_ptr<Client> client = std::move(g_client);
  if (client) g_client_version.fetch_add(1, std::memory_order_release);
  return client;
}

bool client_published() noexcept {
  std::lock_guard lock(g_client_mutex);
  return g_client != nullptr;
}

Client::Client(Options options, Dsn dsn)
    : options_(std::move(options)),
      dsn_(std::move(dsn)),
      intake_(options_.queue_size),
      sessions_(options_.auto_session_tracking && !options_.release.empty()) {
  url_ = dsn_.envelope_url();
  auth_ = "Sentry sentry_version=7, sentry_key=" + dsn_.public_key +
          ", sentry_client=" + std::string(kSdkName) + "/" + std::string(kSdkVersion);
  if (::sem_init(&wake_semaphore_, 0, 0) != 0)
    throw std::system_error(errno, std::generic_category(), "sentry: sem_init");
}

Client::~Client() {
  if (worker_.joinable()) {
    intake_.close();
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    wake_worker();
    worker_.join();
  }
  ::sem_destroy(&wake_semaphore_);
}

void Client::start() {
  load_cache();
  begin_session();
  live_workers.fetch_add(1);
  join_ended_workers();
  worker_ = std::thread([this, ended = worker_ended_] {
    enter_running();
    run();  // may destroy this client: only `ended` is used afterwards
    ended->store(true);
  });
}

BlockingSection::BlockingSection() noexcept {
  g_running_workers.fetch_sub(1);
}

BlockingSection::~BlockingSection() {
  enter_running();
}

void stop_workers_for_exit(std::chrono::milliseconds limit) noexcept {
  g_exiting.store(true);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (g_running_workers.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  join_ended_workers();
}

void Client::count_drop(LockFreeDrop kind) noexcept {
  lock_free_drops_[kind].fetch_add(1, std::memory_order_relaxed);
  lock_free_dropped_.fetch_add(1, std::memory_order_relaxed);
  const auto& [reason, category] = kLockFreeDropNames[kind];
  if (metrics::Counter* series = dropped_series(reason, category)) series->inc();
}

void Client::fold_drops_locked() {
  for (std::size_t kind = 0; kind < kDropKinds; ++kind) {
    const std::uint64_t count = lock_free_drops_[kind].exchange(0, std::memory_order_relaxed);
    if (count != 0)
      discards_[{std::string(kLockFreeDropNames[kind].first),
                 std::string(kLockFreeDropNames[kind].second)}] += count;
  }
}

void Client::discard(std::string_view reason, std::string_view category, std::uint64_t count) {
  std::lock_guard lock(mutex_);
  discard_locked(reason, category, count);
}

void Client::discard_locked(std::string_view reason, std::string_view category,
                            std::uint64_t count) {
  discards_[{std::string(reason), std::string(category)}] += count;
  if (category == "internal") return;
  stats_.dropped += count;
  if (metrics::Counter* series = dropped_series(reason, category)) series->inc(count);
}

Stats Client::stats() const {
  std::lock_guard lock(mutex_);
  Stats out = stats_;
  out.captured = captured_.load(std::memory_order_relaxed);
  out.dropped += lock_free_dropped_.load(std::memory_order_relaxed);
  return out;
}

bool Client::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  // Everything accepted before this call; later captures do not extend the wait.
  const std::uint64_t target = accepted_.load(std::memory_order_acquire);
  return idle_.wait_for(
      lock, timeout, [&] { return (settled_ >= target && queue_.empty() && !busy_) || exited_; });
}

void Client::close(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  {
    std::lock_guard lock(mutex_);
    if (!worker_.joinable()) return;
    // The session ends after the events captured before close, through the same queue: sent,
    // or cached for the next start when the deadline passes.
    if (sessions_ && !session_end_queued_) {
      Work end;
      end.end_session = true;
      queue_.push_back(std::move(end));
      session_end_queued_ = true;
    }
  }
  // No new work from here on; the worker sends what is queued until the deadline (without
  // retry waits), caches the rest and exits. A send still in flight (a hanging server) is
  // bounded by the HTTP timeout, so past the deadline its envelope is cached from here.
  intake_.close();
  std::unique_lock lock(mutex_);
  stopping_ = true;
  close_deadline_ = deadline;
  wake_.notify_all();
  wake_worker();
  if (!idle_.wait_until(lock, deadline + std::chrono::milliseconds(200), [&] { return exited_; })) {
    if (!in_flight_.empty() && in_flight_file_.empty()) {
      in_flight_file_ = persist_locked(in_flight_);
    }
    lock.unlock();
    // It still holds a reference to this client through `self_`.
    AbandonedWorkers& abandoned = abandoned_workers();
    std::lock_guard abandoned_lock(abandoned.mutex);
    abandoned.workers.push_back({std::move(worker_), worker_ended_});
    return;
  }
  lock.unlock();
  worker_.join();
}

void Client::run() {
  if (sessions_) {
    try {
      send_live_session("ok");
    } catch (...) {  // out of memory: the session's later updates still say init
    }
    std::lock_guard lock(mutex_);
    busy_ = false;
  }
  bool saw_stopping = false;
  bool worked = false;  // since the last client report
  while (true) {
    // The process is exiting: what is left cannot be sent any more (stop_workers_for_exit).
    if (g_exiting.load()) {
      g_running_workers.fetch_sub(1);
      park_for_exit();
    }
    if (std::unique_ptr<IntakeNode> node = intake_.pop()) {
      Work work;
      work.captured = std::move(node->captured);
      work.transaction = std::move(node->transaction);
      try {
        process(work);
      } catch (...) {
        // A failure on one event (before_send throwing, out of memory) must not stop the thread.
      }
      worked = true;
      std::lock_guard lock(mutex_);
      ++finished_;
      continue;
    }
    std::unique_lock lock(mutex_);
    if (!queue_.empty()) {
      Work work = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      try {
        process(work);
      } catch (...) {
      }
      lock.lock();
      busy_ = false;
      worked = true;
      continue;
    }
    // Nothing left. Once stopping_ is seen, every push happened before it (close() waits for
    // the callers inside admit()): one more look at the intake, then exit.
    if (saw_stopping) break;
    saw_stopping = stopping_;
    const std::uint64_t finished = finished_;
    lock.unlock();
    if (saw_stopping) continue;
    // Idle after work: the client report goes out now (before flush() returns). Drops
    // without work (sampling) wait for the next event or the exit.
    if (worked) send_pending_report();
    worked = false;
    lock.lock();
    settled_ = finished;
    idle_.notify_all();
    lock.unlock();
    BlockingSection idle;
    while (::sem_wait(&wake_semaphore_) != 0 && errno == EINTR) {
    }
  }
  send_pending_report();
  std::unique_lock lock(mutex_);
  exited_ = true;
  idle_.notify_all();
  // The last reference may be this one (close() gave up and detached the thread): release
  // it only after the lock, and touch nothing afterwards.
  std::shared_ptr<Client> self = std::move(self_);
  lock.unlock();
  self.reset();
  live_workers.fetch_sub(1);
  g_running_workers.fetch_sub(1);
}

int live_transport_threads() noexcept {
  return live_workers.load();
}

bool Client::drop_past_close_deadline(std::string_view category) {
  std::lock_guard lock(mutex_);
  if (!stopping_ || std::chrono::steady_clock::now() < close_deadline_) return false;
  if (!options_.cache_dir.empty() && cached_past_deadline_ < options_.max_cache_files) {
    ++cached_past_deadline_;
    return false;
  }
  // The same reasons a built one would be counted under: unsent for want of a network, or
  // pushed out of a full cache.
  discard_locked(options_.cache_dir.empty() ? "network_error" : "cache_overflow", category);
  return true;
}

void Client::process(Work& work) {
  if (work.transaction && drop_past_close_deadline("transaction")) return;
  if (work.captured && work.crash_file.empty() && drop_past_close_deadline("error")) return;
  refresh_crash_module_map();
  if (work.end_session) {
    send_live_session("exited");
    clear_crash_session(live_session_.sid);
    if (live_file_) live_file_->remove();
    return;
  }
  if (work.ended_session && work.crash_file.empty()) {  // abnormal: gone without a crash record
    send_ended_session(work);
    return;
  }
  if (work.transaction) {
    const TransactionRecord& record = *work.transaction;
    std::vector<EnvelopeItem> items;
    items.push_back({"transaction", transaction_json(record, options_, *Scrubber::shared())});
    send_envelope(build_envelope(record.event_id, items, record.dsc), "transaction", {});
    return;
  }
  if (!work.crash_file.empty()) {
    work.captured = read_crash_record(work.crash_file);
    remove_cached(work.crash_file);  // from here on it is an event: sent or cached as one
    if (!work.captured) {
      if (work.ended_session) send_ended_session(work);
      return;
    }
    // The crashed process's scope when the record has it (else this process's).
    if (!work.captured->global_scope) work.captured->global_scope = load_global_scope();
  }
  if (!work.captured) {
    const SendResult result = send_envelope(work.raw, envelope_category(work.raw), work.cache_file);
    if (result != SendResult::kFailed || !work.cache_file.empty()) {
      if (result != SendResult::kFailed) {
        remove_cached(work.cache_file);
      }
    }
    return;
  }
  std::vector<Breadcrumb> late_breadcrumbs = late_log_breadcrumbs(*work.captured);
  Event event = assemble(*work.captured, options_);
  if (!late_breadcrumbs.empty()) {
    event.breadcrumbs.insert(event.breadcrumbs.end(),
                             std::make_move_iterator(late_breadcrumbs.begin()),
                             std::make_move_iterator(late_breadcrumbs.end()));
    const std::size_t limit = breadcrumb_log().limit();
    if (event.breadcrumbs.size() > limit)
      event.breadcrumbs.erase(event.breadcrumbs.begin(),
                              event.breadcrumbs.end() - static_cast<std::ptrdiff_t>(limit));
  }
  // Native frames need the images they lie in for Sentry to symbolicate stripped binaries.
  std::shared_ptr<const std::vector<DebugImage>> images = std::move(work.captured->images);
  work.captured.reset();
  const bool has_frames = std::any_of(event.exceptions.begin(), event.exceptions.end(),
                                      [](const ExceptionValue& e) { return !e.frames.empty(); });
  if (!has_frames)
    images.reset();
  else if (!images)
    images = loaded_images();
  if (options_.before_send) {
    bool keep = true;
    try {
      keep = options_.before_send(event);
    } catch (...) {
      keep = true;  // a broken hook must not lose the event
    }
    if (!keep) {
      discard("before_send", "error");
      // The crash still ends its session (errors of the live one go with its next update).
      if (work.ended_session) send_ended_session(work);
      return;
    }
  }
  scrub_event(event, *Scrubber::shared());
  std::vector<EnvelopeItem> items;
  items.push_back({"event", event_json(event, images.get())});
  // A session update rides along with the event that changed it (Sentry then sees the
  // session errored, or crashed, together with the error that did it).
  std::optional<Session> live;
  if (work.ended_session) {
    items.push_back({"session", session_json(ended_update(work), *Scrubber::shared())});
  } else if (sessions_ && event.level >= Level::kError && !session_limited()) {
    live = live_update("ok");
    if (live->errors != live_reported_errors_ || live_init_pending_)
      items.push_back({"session", session_json(*live, *Scrubber::shared())});
    else
      live.reset();
  }
  std::string envelope = build_envelope(event.event_id, items);
  const SendResult result = send_envelope(envelope, "error", {});
  if (live) after_live_update(result, *live);
  if (work.ended_session) work.ended_session->remove();
}

bool Client::session_limited() {
  std::lock_guard lock(mutex_);
  return limits_.limited("session", std::chrono::steady_clock::now());
}

void Client::begin_session() {
  if (!sessions_) return;
  g_session_errors.store(0, std::memory_order_relaxed);
  live_session_.sid = new_session_id();
  live_session_.started = std::chrono::system_clock::now();
  live_session_.release = options_.release;
  live_session_.environment = options_.environment;
  if (!options_.cache_dir.empty()) {
    live_file_ = SessionFile::create(options_.cache_dir, live_session_, /*init_sent=*/false);
    set_crash_session(live_session_.sid);
  }
  // The init update goes out first, before any event can carry the session: flush() waits
  // for it like for queued work.
  std::lock_guard lock(mutex_);
  busy_ = true;
}

Session Client::live_update(std::string_view status) {
  if (live_session_.did.empty()) {
    // Sentry takes the distinct id as it first sees it: set once, from the user in the scope.
    const std::shared_ptr<const ScopeData> scope = load_global_scope();
    if (scope && scope->has_user) live_session_.did = scope->user.id;
  }
  Session update = live_session_;
  update.timestamp = std::chrono::system_clock::now();
  update.status = std::string(status);
  update.errors = g_session_errors.load(std::memory_order_relaxed);
  update.init = live_init_pending_;
  return update;
}

void Client::after_live_update(SendResult result, const Session& update) {
  // Sent or cached for the next start: either way Sentry gets this init before any later
  // update (the cache is sent in order). Dropped (rate limit, 4xx): the next one says init.
  if (result != SendResult::kDropped) live_init_pending_ = false;
  live_reported_errors_ = update.errors;
  live_session_.errors = update.errors;
  if (live_file_) live_file_->update(live_session_, !live_init_pending_);
}

void Client::send_live_session(std::string_view status) {
  const Session update = live_update(status);
  const std::string envelope =
      build_envelope({}, {{"session", session_json(update, *Scrubber::shared())}});
  after_live_update(send_envelope(envelope, "session", {}), update);
}

void Client::send_ended_session(Work& work) {
  send_envelope(
      build_envelope({}, {{"session", session_json(ended_update(work), *Scrubber::shared())}}),
      "session", {});
  work.ended_session->remove();
}

Session Client::ended_update(const Work& work) {
  Session update = work.ended_session->session();
  update.init = !work.ended_session->init_sent();
  if (!work.crash_file.empty()) {
    update.status = "crashed";
    // The crash is an error of the session too.
    update.errors = std::max(update.errors, work.crash.errors) + 1;
    update.timestamp = work.crash.time.time_since_epoch().count() != 0
                           ? work.crash.time
                           : std::chrono::system_clock::now();
  } else {
    update.status = "abnormal";
    update.timestamp = std::chrono::system_clock::now();
    update.with_duration = false;  // when it died is unknown
  }
  return update;
}

std::vector<Breadcrumb> Client::late_log_breadcrumbs(const Captured& captured) {
  if (!captured.log_position || !options_.capture_logs) return {};
  // The backend idles at most 1 ms and is woken by the wait: 100 ms is ample unless it is stuck.
  constexpr std::chrono::milliseconds kLogWait{100};
  std::chrono::system_clock::time_point capture_time;
  const bool observed = logging::wait_until_observed(
      captured.log_position,
      log_wait_timed_out_ ? std::chrono::nanoseconds::zero() : std::chrono::nanoseconds(kLogWait),
      &capture_time);
  log_wait_timed_out_ = !observed && logging::is_running();
  // Only what was added after the capture's own snapshot: however many breadcrumbs other
  // threads add meanwhile, the ones the capture saw stay.
  BreadcrumbSnapshot added;
  if (captured.breadcrumbs) {
    breadcrumb_log().snapshot_added_since(added, *captured.breadcrumbs);
  } else {
    breadcrumb_log().snapshot_added_since(added, BreadcrumbSnapshot{});
  }
  std::vector<Breadcrumb> crumbs;
  decode_breadcrumbs(added, crumbs);
  std::erase_if(crumbs, [&](const Breadcrumb& crumb) { return crumb.timestamp > capture_time; });
  return crumbs;
}

std::string Client::persist_locked(const std::string& envelope) {
  if (options_.cache_dir.empty()) return {};
  const CachedEnvelope cached =
      cache_envelope(options_.cache_dir, envelope, options_.max_cache_files);
  if (cached.path.empty()) return {};
  ++stats_.cached;
  for (std::size_t i = 0; i < cached.evicted; ++i) discard_locked("cache_overflow", "error");
  return cached.path;
}

void Client::load_cache() {
  if (options_.cache_dir.empty()) return;
  std::vector<CachedFile> files = load_cache_dir(options_.cache_dir);
  // Sessions whose process is gone (their file is not locked any more). Ended whatever this
  // client's options: they belong to the runs that started them.
  std::vector<std::unique_ptr<SessionFile>> ended;
  for (const CachedFile& file : files)
    if (file.session)
      if (auto claimed = SessionFile::claim(file.path)) ended.push_back(std::move(claimed));
  std::lock_guard lock(mutex_);
  for (CachedFile& file : files) {
    if (file.session) continue;
    Work work;
    if (file.crash_record) {
      work.crash = crash_record_session(file.path);
      const auto crashed = std::find_if(ended.begin(), ended.end(), [&](const auto& session) {
        return !work.crash.sid.empty() && session->session().sid == work.crash.sid;
      });
      if (crashed != ended.end()) {
        work.ended_session = std::move(*crashed);
        ended.erase(crashed);
      }
      work.crash_file = std::move(file.path);
    } else {
      work.raw = std::move(file.envelope);
      work.cache_file = std::move(file.path);
    }
    queue_.push_back(std::move(work));
    ++stats_.loaded_from_cache;
  }
  for (auto& session : ended) {
    Work work;
    work.ended_session = std::move(session);
    queue_.push_back(std::move(work));
  }
}

}  // namespace monitoring::sentry::detail
