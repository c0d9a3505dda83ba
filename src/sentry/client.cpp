// The Sentry client: the caller-side API (copy and enqueue), scopes and breadcrumbs, and the
// background thread that assembles, scrubs, serializes and sends envelopes.

#include "sentry/client.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <system_error>
#include <thread>
#include <typeinfo>
#include <utility>

#include "core/json_writer.hpp"
#include "monitoring/logging/logger.hpp"
#include "monitoring/logging/observer.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"
#include "sentry/crash.hpp"
#include "sentry/signal_safe.hpp"
#include "stacktrace/stack_trace.hpp"

namespace monitoring::sentry {
namespace detail {
namespace {

namespace fs = std::filesystem;

// Transport threads still running, detached ones included (tests wait for them to end).
std::atomic<int> live_workers{0};

constexpr std::uint32_t kMaxFrames = 64;
constexpr int kMaxChain = 16;

// The running client and the global scope are read on every capture without a lock: each
// thread caches a reference and revalidates it against a version number that init/close
// and the scope setters bump (under their mutex, which only they and a thread whose cache
// is out of date take). GCC 12's std::atomic<std::shared_ptr> would be the other way, but
// it hides a lock of its own and ThreadSanitizer cannot see it (false race reports).
std::mutex g_lifecycle_mutex;  // init and close
std::mutex g_client_mutex;
std::shared_ptr<Client> g_client;                // guarded by g_client_mutex
std::atomic<std::uint64_t> g_client_version{1};  // bumped with every change of g_client

std::mutex g_scope_mutex;
std::shared_ptr<const ScopeData> g_global_scope = std::make_shared<ScopeData>();  // guarded
std::atomic<std::uint64_t> g_scope_version{1};  // bumped with every change of g_global_scope

/// A thread's copy of a shared pointer published under a mutex, valid while the version
/// has not moved. Holds the object until the thread's next refresh or its exit (a closed
/// client lingers until then: memory only, its worker has ended).
template <class T>
struct VersionedCache {
  std::uint64_t version = 0;
  std::shared_ptr<T> value;

  std::shared_ptr<T> get(const std::atomic<std::uint64_t>& current, std::mutex& mutex,
                         const std::shared_ptr<T>& published) {
    if (version != current.load(std::memory_order_acquire)) {
      std::shared_ptr<T> stale;
      {
        std::lock_guard lock(mutex);
        stale = std::exchange(value, published);
        version = current.load(std::memory_order_relaxed);
      }
    }  // `stale` goes after the lock: it may be the last reference
    return value;
  }
};
thread_local VersionedCache<Client> t_client;
thread_local VersionedCache<const ScopeData> t_global_scope;

std::shared_ptr<const ScopeData> load_global_scope() {
  return t_global_scope.get(g_scope_version, g_scope_mutex, g_global_scope);
}

thread_local std::shared_ptr<const ScopeData> t_thread_scope;

bool sampled(double rate) {
  if (rate >= 1.0) return true;
  if (rate <= 0.0) return false;
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine) < rate;
}

/// The latest breadcrumbs. A thread keeps its last snapshot and hands it out again while no
/// breadcrumb was added since (a burst of errors copies the log once).
std::shared_ptr<const BreadcrumbSnapshot> breadcrumbs_now() {
  thread_local std::shared_ptr<const BreadcrumbSnapshot> last;
  const BreadcrumbLog& log = breadcrumb_log();
  if (last && last->complete && last->head == log.head() && last->limit == log.limit()) return last;
  auto fresh = std::make_shared<BreadcrumbSnapshot>();
  log.snapshot(*fresh);
  last = std::move(fresh);
  return last;
}

/// The caller-side part common to every captured event.
std::unique_ptr<Captured> start_capture(Level level, const Tags& tags) {
  auto captured = std::make_unique<Captured>();
  captured->event.event_id = new_event_id();
  captured->event.timestamp = std::chrono::system_clock::now();
  captured->event.level = level;
  captured->event.tags = tags;
  captured->global_scope = load_global_scope();
  captured->thread_scope = t_thread_scope;
  captured->context = context::current();
  captured->breadcrumbs = breadcrumbs_now();
  return captured;
}

void collect_chain(std::exception_ptr error, std::vector<RawException>& chain) {
  for (int depth = 0; error && depth < kMaxChain; ++depth) {
    std::exception_ptr next;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      const std::type_info* type = abi::__cxa_current_exception_type();
      chain.push_back({type ? type->name() : "std::exception", false, e.what()});
      try {
        std::rethrow_if_nested(e);
      } catch (...) {
        next = std::current_exception();
      }
    } catch (...) {
      const std::type_info* type = abi::__cxa_current_exception_type();
      chain.push_back({type ? type->name() : "unknown", false, ""});
    }
    error = next;
  }
}

std::shared_ptr<Client> current_client() {
  return t_client.get(g_client_version, g_client_mutex, g_client);
}

/// Replaces the global client (g_client_mutex held by the caller).
void publish_client_locked(std::shared_ptr<Client> client) {
  g_client = std::move(client);
  g_client_version.fetch_add(1, std::memory_order_release);
}

template <class Mutate>
void update_global(Mutate&& mutate) {
  ensure_thread_alt_stack();
  std::shared_ptr<const ScopeData> previous;
  std::lock_guard lock(g_scope_mutex);
  auto next = std::make_shared<ScopeData>(*g_global_scope);
  mutate(*next);
  // The crash handler's copy: its user, tags, extra, contexts and fingerprint.
  scope_mirror().publish(scope_record_lines(*next));
  previous = std::exchange(g_global_scope, std::move(next));
  g_scope_version.fetch_add(1, std::memory_order_release);
}

template <class Mutate>
void update_thread(Mutate&& mutate) {
  ensure_thread_alt_stack();
  auto next =
      t_thread_scope ? std::make_shared<ScopeData>(*t_thread_scope) : std::make_shared<ScopeData>();
  mutate(*next);
  t_thread_scope = std::move(next);
}

void put(Tags& pairs, std::string_view key, std::string_view value) {
  auto it = std::find_if(pairs.begin(), pairs.end(), [&](const auto& p) { return p.first == key; });
  if (value.empty()) {
    if (it != pairs.end()) pairs.erase(it);
  } else if (it != pairs.end()) {
    it->second = std::string(value);
  } else {
    pairs.emplace_back(std::string(key), std::string(value));
  }
}

void put_context(ScopeData& scope, std::string_view name, Tags values) {
  auto it = std::find_if(scope.contexts.begin(), scope.contexts.end(),
                         [&](const auto& c) { return c.first == name; });
  if (values.empty()) {
    if (it != scope.contexts.end()) scope.contexts.erase(it);
  } else if (it != scope.contexts.end()) {
    it->second = std::move(values);
  } else {
    scope.contexts.emplace_back(std::string(name), std::move(values));
  }
}

void check_tag_key(std::string_view key) {
  if (key.empty() || key.size() > 32 || std::any_of(key.begin(), key.end(), [](char c) {
        return static_cast<unsigned char>(c) <= ' ';
      }))
    throw SentryError("sentry: invalid tag key '" + std::string(key.substr(0, 64)) +
                      "': 1..32 characters without spaces or control characters");
}

void check_name(std::string_view what, std::string_view name) {
  if (name.empty()) throw SentryError("sentry: " + std::string(what) + " must not be empty");
}

/// Log records -> breadcrumbs and events (installed by init when capture_logs is on).
void observe_record(const std::weak_ptr<Client>& weak, const logging::RecordView& record) {
  auto client = weak.lock();
  if (!client) return;
  const Options& options = client->options();
  Tags data;
  bool already_captured = false;
  for (const Field& field : record.fields) {
    if (field.key == "sentry.event_id") {
      already_captured = true;
      continue;
    }
    data.emplace_back(std::string(field.key), field_text(field.value));
  }
  if (record.level >= options.event_level) {
    if (already_captured) return;
    if (!sampled(options.sample_rate)) {
      client->discard_sampled_out();
      return;
    }
    auto captured = start_capture(from_log_level(record.level), {});
    captured->context = ContextSnapshot();  // the backend thread's own context is not the caller's
    captured->thread_scope = nullptr;
    Event& event = captured->event;
    event.timestamp = record.timestamp;
    event.logger = std::string(record.logger);
    event.message = std::string(record.message);
    event.extra = std::move(data);
    if (record.has_user) {
      event.user.id = std::string(record.user_id);
      event.user.username = std::string(record.user_name);
    }
    if (!record.request_id.empty())
      event.tags.emplace_back("request_id", std::string(record.request_id));
    event.trace_id = std::string(record.trace_id);
    event.span_id = std::string(record.span_id);
    event.mechanism = "logging";
    if (record.has_error) {
      captured->chain.push_back(
          {std::string(record.error_type), true, std::string(record.error_message)});
      captured->stack_text = std::string(record.error_stack_trace);
    }
    client->enqueue(std::move(captured));
    return;
  }
  if (record.level >= options.breadcrumb_level) {
    Breadcrumb crumb;
    crumb.timestamp = record.timestamp;
    crumb.type = record.level >= logging::Level::kError ? "error" : "default";
    crumb.category = record.logger.empty() ? std::string("log") : std::string(record.logger);
    crumb.message = std::string(record.message);
    crumb.level = from_log_level(record.level);
    crumb.data = std::move(data);
    add_breadcrumb(std::move(crumb));
  }
}

}  // namespace

std::shared_ptr<Client> active_client() {
  return current_client();
}

std::shared_ptr<const ScopeData> global_scope_snapshot() {
  return load_global_scope();
}

bool sample(double rate) {
  return sampled(rate);
}

// ---------------------------------------------------------------------------------------
// Client

Client::Client(Options options, Dsn dsn) : options_(std::move(options)), dsn_(std::move(dsn)) {
  url_ = dsn_.envelope_url();
  auth_ = "Sentry sentry_version=7, sentry_key=" + dsn_.public_key +
          ", sentry_client=" + std::string(kSdkName) + "/" + std::string(kSdkVersion);
  if (::sem_init(&wake_semaphore_, 0, 0) != 0)
    throw std::system_error(errno, std::generic_category(), "sentry: sem_init");
}

Client::~Client() {
  if (worker_.joinable()) {
    close_intake();
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    wake_worker();
    worker_.join();
  }
  // Nothing is left after a normal close; a client that never started may hold items.
  while (IntakeNode* node = intake_pop()) delete node;
  ::sem_destroy(&wake_semaphore_);
}

void Client::start() {
  load_cache();
  live_workers.fetch_add(1);
  worker_ = std::thread([this] { run(); });
}

void Client::wake_worker() noexcept {
  ::sem_post(&wake_semaphore_);
}

void Client::intake_push(IntakeNode* node) noexcept {
  node->next.store(nullptr, std::memory_order_relaxed);
  IntakeNode* previous = intake_head_.exchange(node, std::memory_order_acq_rel);
  // Until this store the worker cannot reach `node` (nor what follows it): it sees an empty
  // intake and is woken again by the sem_post after admit().
  previous->next.store(node, std::memory_order_release);
}

Client::IntakeNode* Client::intake_pop() noexcept {
  IntakeNode* tail = intake_tail_;
  IntakeNode* next = tail->next.load(std::memory_order_acquire);
  if (tail == &intake_stub_) {
    if (next == nullptr) return nullptr;
    intake_tail_ = next;
    tail = next;
    next = next->next.load(std::memory_order_acquire);
  }
  if (next != nullptr) {
    intake_tail_ = next;
    return tail;
  }
  if (tail != intake_head_.load(std::memory_order_acquire)) return nullptr;  // a push is halfway
  // `tail` is the last node: put the stub behind it so that it can be taken.
  intake_push(&intake_stub_);
  next = tail->next.load(std::memory_order_acquire);
  if (next != nullptr) {
    intake_tail_ = next;
    return tail;
  }
  return nullptr;
}

bool Client::admit(std::unique_ptr<IntakeNode> node) {
  const bool is_event = node->captured != nullptr;
  bool accepted = false;
  // Registered as inside: close() waits for us, so nothing is pushed after the worker's
  // last look at the intake.
  if ((admission_.fetch_add(2, std::memory_order_seq_cst) & 1) == 0) {
    if (intake_size_.fetch_add(1, std::memory_order_relaxed) < options_.queue_size) {
      accepted_.fetch_add(1, std::memory_order_relaxed);
      if (is_event) captured_.fetch_add(1, std::memory_order_relaxed);
      intake_push(node.release());
      accepted = true;
    } else {
      intake_size_.fetch_sub(1, std::memory_order_relaxed);
    }
  }
  admission_.fetch_sub(2, std::memory_order_release);
  if (accepted) {
    wake_worker();
  } else {
    count_drop(is_event ? kOverflowError : kOverflowTransaction);
  }
  return accepted;
}

void Client::close_intake() noexcept {
  admission_.fetch_or(1, std::memory_order_seq_cst);
  while ((admission_.load(std::memory_order_acquire) >> 1) != 0) std::this_thread::yield();
}

bool Client::enqueue(std::unique_ptr<Captured> captured) {
  auto node = std::make_unique<IntakeNode>();
  node->captured = std::move(captured);
  return admit(std::move(node));
}

bool Client::enqueue_transaction(std::unique_ptr<TransactionRecord> record) {
  auto node = std::make_unique<IntakeNode>();
  node->transaction = std::move(record);
  return admit(std::move(node));
}

namespace {

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

void Client::discard_sampled_out() noexcept {
  count_drop(kSampledOut);
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
  }
  // No new work from here on; the worker sends what is queued until the deadline (without
  // retry waits), caches the rest and exits. A send still in flight (a hanging server) is
  // bounded by the HTTP timeout, so past the deadline its envelope is cached from here.
  close_intake();
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
    worker_.detach();  // it still holds a reference to this client through `self_`
    return;
  }
  lock.unlock();
  worker_.join();
}

void Client::run() {
  bool saw_stopping = false;
  bool worked = false;  // since the last client report
  while (true) {
    if (IntakeNode* taken = intake_pop()) {
      std::unique_ptr<IntakeNode> node(taken);
      intake_size_.fetch_sub(1, std::memory_order_relaxed);
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
}

int live_transport_threads() noexcept {
  return live_workers.load();
}

void Client::process(Work& work) {
  if (work.transaction) {
    const TransactionRecord& record = *work.transaction;
    std::vector<EnvelopeItem> items;
    items.push_back({"transaction", transaction_json(record, options_, *Scrubber::shared())});
    send_envelope(build_envelope(record.event_id, items, record.dsc), "transaction", {});
    return;
  }
  if (!work.crash_file.empty()) {
    work.captured = read_crash_record(work.crash_file);
    std::error_code ignored;
    fs::remove(work.crash_file, ignored);  // from here on it is an event: sent or cached as one
    if (!work.captured) return;
    // The crashed process's scope when the record has it (else this process's).
    if (!work.captured->global_scope) work.captured->global_scope = load_global_scope();
  }
  if (!work.captured) {
    const SendResult result = send_envelope(work.raw, "error", work.cache_file);
    if (result != SendResult::kFailed || !work.cache_file.empty()) {
      if (result != SendResult::kFailed) {
        std::error_code ignored;
        fs::remove(work.cache_file, ignored);
      }
    }
    return;
  }
  Event event = assemble(*work.captured, options_);
  work.captured.reset();
  if (options_.before_send) {
    bool keep = true;
    try {
      keep = options_.before_send(event);
    } catch (...) {
      keep = true;  // a broken hook must not lose the event
    }
    if (!keep) {
      discard("before_send", "error");
      return;
    }
  }
  scrub_event(event, *Scrubber::shared());
  std::vector<EnvelopeItem> items;
  items.push_back({"event", event_json(event)});
  std::string envelope = build_envelope(event.event_id, items);
  send_envelope(envelope, "error", {});
}

void Client::send_pending_report() {
  DiscardCounts counts;
  {
    std::lock_guard lock(mutex_);
    fold_drops_locked();
    if (discards_.empty()) return;
    if (limits_.limited("", std::chrono::steady_clock::now())) return;
    counts.swap(discards_);
  }
  std::vector<EnvelopeItem> items;
  items.push_back({"client_report", client_report_json(counts)});
  if (send_envelope(build_envelope({}, items), "internal", {}, /*persist=*/false) !=
      SendResult::kSent) {
    std::lock_guard lock(mutex_);
    for (const auto& [key, count] : counts) discards_[key] += count;
  }
}

Client::SendResult Client::send_envelope(const std::string& envelope, std::string_view category,
                                         const std::string& cache_file, bool persist) {
  const bool is_report = category == "internal";
  for (unsigned attempt = 0;; ++attempt) {
    const auto now = std::chrono::steady_clock::now();
    bool limited = false;
    {
      std::lock_guard lock(mutex_);
      // Past close()'s deadline: no more network waits, straight to the cache.
      if (stopping_ && !is_report && now >= close_deadline_) {
        if (!persist || !cache_file.empty()) return SendResult::kFailed;
        if (persist_locked(envelope).empty()) {
          discard_locked("network_error", category);
        }
        return SendResult::kFailed;
      }
      limited = is_report ? limits_.until("") > now : limits_.limited(category, now);
    }
    if (limited) {
      if (!is_report) {
        discard("ratelimit_backoff", category);
        std::lock_guard lock(mutex_);
        ++stats_.rate_limited;
      }
      return SendResult::kDropped;
    }
    common::HttpRequest request;
    request.method = "POST";
    request.url = url_;
    request.timeout = options_.http_timeout;
    request.connect_timeout = std::min(options_.http_timeout, std::chrono::milliseconds(2000));
    request.headers.add("X-Sentry-Auth", auth_);
    request.headers.add("Content-Type", "application/x-sentry-envelope");
    if (options_.gzip) {
      request.headers.add("Content-Encoding", "gzip");
      request.body = metrics::gzip_compress(envelope);
    } else {
      request.body = envelope;
    }
    request.user_agent = std::string(kSdkName) + "/" + std::string(kSdkVersion);
    bool retry = false;
    {
      std::lock_guard lock(mutex_);
      in_flight_ = envelope;
      in_flight_file_.clear();
    }
    try {
      common::HttpResponse response = common::http_request(request);
      std::lock_guard lock(mutex_);
      limits_.update(response.status, response.headers, std::chrono::steady_clock::now());
      in_flight_.clear();
      if (response.ok()) {
        if (!in_flight_file_.empty()) {  // close() cached it meanwhile: it did arrive after all
          std::error_code ignored;
          fs::remove(in_flight_file_, ignored);
          in_flight_file_.clear();
        }
        if (!is_report) ++stats_.sent;
        return SendResult::kSent;
      }
      if (response.status >= 500) {
        retry = true;
      } else {
        const bool rate = response.status == 429;
        if (rate && !is_report) ++stats_.rate_limited;
        if (!is_report) {
          discard_locked(rate ? "ratelimit_backoff" : "send_error", category);
        }
        return SendResult::kDropped;
      }
    } catch (const common::HttpTransportError&) {
      std::lock_guard lock(mutex_);
      in_flight_.clear();
      retry = true;
    }
    // 5xx or no answer: back off and try again, unless shutting down or out of attempts.
    std::unique_lock lock(mutex_);
    if (!in_flight_file_.empty()) {  // close() already cached it
      in_flight_file_.clear();
      return SendResult::kFailed;
    }
    if (retry && attempt < options_.max_retries && !stopping_) {
      ++stats_.retries;
      auto delay = options_.retry_backoff * (1u << std::min(attempt, 6u));
      delay = std::min<std::chrono::milliseconds>(delay, std::chrono::seconds(30));
      wake_.wait_for(lock, delay, [&] { return stopping_; });
      continue;
    }
    if (is_report || !persist) return SendResult::kFailed;
    if (!cache_file.empty()) return SendResult::kFailed;  // already in the cache: keep it there
    if (persist_locked(envelope).empty()) {
      discard_locked("network_error", category);
    }
    return SendResult::kFailed;
  }
}

std::string Client::persist_locked(const std::string& envelope) {
  if (options_.cache_dir.empty()) return {};
  std::error_code error;
  const fs::path dir(options_.cache_dir);
  fs::create_directories(dir, error);
  const auto stamp = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  const fs::path final_path = dir / (std::to_string(stamp) + "-" + new_event_id() + ".envelope");
  const fs::path temp_path = final_path.string() + ".tmp";
  {
    std::ofstream out(temp_path, std::ios::binary | std::ios::trunc);
    out.write(envelope.data(), static_cast<std::streamsize>(envelope.size()));
    if (!out) {
      fs::remove(temp_path, error);
      return {};
    }
  }
  fs::rename(temp_path, final_path, error);
  if (error) return {};
  ++stats_.cached;
  // Bounded: the oldest envelopes go first (names start with a timestamp).
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, error))
    if (entry.path().extension() == ".envelope") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (std::size_t i = 0; files.size() - i > options_.max_cache_files; ++i) {
    fs::remove(files[i], error);
    discard_locked("cache_overflow", "error");
  }
  return final_path.string();
}

void Client::load_cache() {
  if (options_.cache_dir.empty()) return;
  std::error_code error;
  const fs::path dir(options_.cache_dir);
  if (!fs::is_directory(dir, error)) return;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (entry.path().extension() == ".envelope" || entry.path().extension() == ".crash")
      files.push_back(entry.path());
    if (entry.path().extension() == ".tmp") fs::remove(entry.path(), error);  // torn write
  }
  std::sort(files.begin(), files.end());
  std::lock_guard lock(mutex_);
  for (const fs::path& file : files) {
    if (file.extension() == ".crash") {
      Work work;
      work.crash_file = file.string();
      queue_.push_back(std::move(work));
      ++stats_.loaded_from_cache;
      continue;
    }
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    Work work;
    work.raw = text.str();
    work.cache_file = file.string();
    if (work.raw.empty()) {
      fs::remove(file, error);
      continue;
    }
    queue_.push_back(std::move(work));
    ++stats_.loaded_from_cache;
  }
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Public API

using detail::Client;

namespace {

/// close() with g_lifecycle_mutex held (init replaces a running client through it too).
void close_locked(std::optional<std::chrono::milliseconds> timeout) {
  std::shared_ptr<Client> client;
  {
    std::lock_guard lock(detail::g_client_mutex);
    client = detail::g_client;
    if (client) detail::publish_client_locked(nullptr);
  }
  if (!client) return;
  if (client->options().capture_logs) logging::set_record_observer({});
  detail::uninstall_crash_handlers();
  client->close(timeout.value_or(client->options().shutdown_timeout));
}

}  // namespace

void init(Options options) {
  Dsn dsn = Dsn::parse(options.dsn);
  auto check_rate = [](std::string_view name, double rate) {
    if (!(rate >= 0.0 && rate <= 1.0))
      throw SentryError("sentry: " + std::string(name) + " " + std::to_string(rate) +
                        " is not a rate between 0 and 1");
  };
  check_rate("sample_rate", options.sample_rate);
  check_rate("traces_sample_rate", options.traces_sample_rate);
  if (options.queue_size == 0) throw SentryError("sentry: queue_size 0 would drop every event");
  if (options.max_breadcrumbs > 1000)
    throw SentryError("sentry: max_breadcrumbs " + std::to_string(options.max_breadcrumbs) +
                      " is above 1000");
  if (options.http_timeout.count() <= 0)
    throw SentryError("sentry: http_timeout " + std::to_string(options.http_timeout.count()) +
                      " ms must be positive");
  std::lock_guard lifecycle(detail::g_lifecycle_mutex);
  close_locked(std::nullopt);
  detail::breadcrumb_log().set_limit(options.max_breadcrumbs);
  auto client = std::make_shared<Client>(std::move(options), std::move(dsn));
  client->set_self(client);
  client->start();
  if (client->options().crash_handler && !client->options().cache_dir.empty()) {
    std::error_code ignored;
    std::filesystem::create_directories(client->options().cache_dir, ignored);
    detail::install_crash_handlers(client->options().cache_dir);
  }
  {
    std::lock_guard lock(detail::g_client_mutex);
    detail::publish_client_locked(client);
  }
  const Options& opts = client->options();
  if (opts.capture_logs) {
    std::weak_ptr<Client> weak = client;
    logging::set_record_observer(
        [weak](const logging::RecordView& record) { detail::observe_record(weak, record); },
        std::min(opts.breadcrumb_level, opts.event_level));
  }
}

bool is_enabled() noexcept {
  std::lock_guard lock(detail::g_client_mutex);
  return detail::g_client != nullptr;
}

bool flush(std::chrono::milliseconds timeout) {
  auto client = detail::current_client();
  return client ? client->flush(timeout) : true;
}

void close(std::optional<std::chrono::milliseconds> timeout) {
  std::lock_guard lifecycle(detail::g_lifecycle_mutex);
  close_locked(timeout);
}

// The caller-side path takes no lock: the client and the global scope come from this
// thread's cache, breadcrumbs from the lock-free log, the queue is lock-free.
std::string capture_exception(std::exception_ptr error, const Tags& tags) {
  detail::ensure_thread_alt_stack();
  auto client = detail::current_client();
  if (!client || !error) return {};
  if (!detail::sampled(client->options().sample_rate)) {
    client->discard_sampled_out();
    return {};
  }
  void* frames[detail::kMaxFrames];
  const std::uint32_t count = logging::detail::capture_stack(frames, detail::kMaxFrames);
  auto captured = detail::start_capture(Level::kError, tags);
  captured->frames.assign(frames, frames + count);
  detail::collect_chain(std::move(error), captured->chain);
  std::string id = captured->event.event_id;
  return client->enqueue(std::move(captured)) ? id : std::string();
}

std::string capture_message(std::string_view message, Level level, const Tags& tags) {
  detail::ensure_thread_alt_stack();
  auto client = detail::current_client();
  if (!client) return {};
  if (!detail::sampled(client->options().sample_rate)) {
    client->discard_sampled_out();
    return {};
  }
  auto captured = detail::start_capture(level, tags);
  captured->event.message = std::string(message);
  std::string id = captured->event.event_id;
  return client->enqueue(std::move(captured)) ? id : std::string();
}

void add_breadcrumb(Breadcrumb breadcrumb) {
  detail::ensure_thread_alt_stack();
  detail::breadcrumb_log().add(breadcrumb);
}

void set_user(User user) {
  detail::update_global([&](detail::ScopeData& s) {
    s.has_user = !user.empty();
    s.user = std::move(user);
  });
}

void set_tag(std::string_view key, std::string_view value) {
  detail::check_tag_key(key);
  detail::update_global([&](detail::ScopeData& s) { detail::put(s.tags, key, value); });
}

void set_extra(std::string_view key, std::string_view value) {
  detail::check_name("extra key", key);
  detail::update_global([&](detail::ScopeData& s) { detail::put(s.extra, key, value); });
}

void set_context(std::string_view name, Tags values) {
  detail::check_name("context name", name);
  detail::update_global(
      [&](detail::ScopeData& s) { detail::put_context(s, name, std::move(values)); });
}

void set_fingerprint(std::vector<std::string> fingerprint) {
  detail::update_global([&](detail::ScopeData& s) { s.fingerprint = std::move(fingerprint); });
}

ThreadScope::ThreadScope() : previous_(detail::t_thread_scope) {
  detail::ensure_thread_alt_stack();
  detail::t_thread_scope =
      detail::t_thread_scope ? detail::t_thread_scope : std::make_shared<const detail::ScopeData>();
}

ThreadScope::~ThreadScope() {
  detail::t_thread_scope = std::static_pointer_cast<const detail::ScopeData>(previous_);
}

ThreadScope& ThreadScope::set_user(User user) {
  detail::update_thread([&](detail::ScopeData& s) {
    s.has_user = !user.empty();
    s.user = std::move(user);
  });
  return *this;
}

ThreadScope& ThreadScope::set_tag(std::string_view key, std::string_view value) {
  detail::check_tag_key(key);
  detail::update_thread([&](detail::ScopeData& s) { detail::put(s.tags, key, value); });
  return *this;
}

ThreadScope& ThreadScope::set_extra(std::string_view key, std::string_view value) {
  detail::check_name("extra key", key);
  detail::update_thread([&](detail::ScopeData& s) { detail::put(s.extra, key, value); });
  return *this;
}

ThreadScope& ThreadScope::set_context(std::string_view name, Tags values) {
  detail::check_name("context name", name);
  detail::update_thread(
      [&](detail::ScopeData& s) { detail::put_context(s, name, std::move(values)); });
  return *this;
}

ThreadScope& ThreadScope::set_fingerprint(std::vector<std::string> fingerprint) {
  detail::update_thread([&](detail::ScopeData& s) { s.fingerprint = std::move(fingerprint); });
  return *this;
}

Stats stats() {
  auto client = detail::current_client();
  return client ? client->stats() : Stats{};
}

namespace detail {

void handle_error(const Tags& tags, const std::exception_ptr& error) {
  std::string module = "unknown";
  for (const auto& [key, value] : tags)
    if (key == "module" && !value.empty()) module = value;
  std::string event_id;
  try {
    event_id = capture_exception(error, tags);
  } catch (...) {  // capturing must never replace the application's exception
  }
  // logger.exception counts errors_total{error_type, module} (the logger is named `module`).
  logging::StructuredLogger logger(module);
  const std::string message = "Unhandled error in " + module;
  if (event_id.empty())
    logger.exception(message, error, {{"module", module}});
  else
    logger.exception(message, error, {{"module", module}, {"sentry.event_id", event_id}});
}

}  // namespace detail
}  // namespace monitoring::sentry
