// The Sentry client: the caller-side API (copy and enqueue), scopes and breadcrumbs, and the
// background thread that assembles, scrubs, serializes and sends envelopes.

#include "sentry/client.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <typeinfo>

#include "logging/stack_trace.hpp"
#include "monitoring/detail/json.hpp"
#include "monitoring/logging/logger.hpp"
#include "monitoring/logging/observer.hpp"
#include "monitoring/metrics/catalog.hpp"
#include "monitoring/metrics/exposition.hpp"
#include "monitoring/metrics/registry.hpp"
#include "sentry/crash.hpp"

namespace monitoring::sentry {
namespace detail {
namespace {

namespace fs = std::filesystem;

// Transport threads still running, detached ones included (tests wait for them to end).
std::atomic<int> live_workers{0};

constexpr std::uint32_t kMaxFrames = 64;
constexpr int kMaxChain = 16;

// Read on every capture under a short critical section (a pointer copy). GCC 12's
// std::atomic<std::shared_ptr> would avoid it, but ThreadSanitizer cannot see its internal
// lock and reports false races, and the concurrency tests must stay TSan-clean.
std::mutex g_lifecycle_mutex;  // init and close
std::mutex g_client_mutex;
std::shared_ptr<Client> g_client;  // guarded by g_client_mutex

std::mutex g_scope_mutex;
std::shared_ptr<const ScopeData> g_global_scope = std::make_shared<ScopeData>();  // guarded

std::shared_ptr<const ScopeData> load_global_scope() {
  std::lock_guard lock(g_scope_mutex);
  return g_global_scope;
}

thread_local std::shared_ptr<const ScopeData> t_thread_scope;

/// The breadcrumb ring, shared by every thread.
struct BreadcrumbRing {
  std::mutex mutex;
  std::deque<std::shared_ptr<const Breadcrumb>> items;
  std::size_t capacity = 100;
};
BreadcrumbRing& ring() {
  static BreadcrumbRing instance;
  return instance;
}

bool sampled(double rate) {
  if (rate >= 1.0) return true;
  if (rate <= 0.0) return false;
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine) < rate;
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
  {
    BreadcrumbRing& crumbs = ring();
    std::lock_guard lock(crumbs.mutex);
    captured->breadcrumbs.assign(crumbs.items.begin(), crumbs.items.end());
  }
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
  std::lock_guard lock(g_client_mutex);
  return g_client;
}

template <class Mutate>
void update_global(Mutate&& mutate) {
  std::lock_guard lock(g_scope_mutex);
  auto next = std::make_shared<ScopeData>(*g_global_scope);
  mutate(*next);
  g_global_scope = std::move(next);
}

template <class Mutate>
void update_thread(Mutate&& mutate) {
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
      client->discard("sample_rate", "error");
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
}

Client::~Client() {
  if (worker_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();
  }
}

void Client::start() {
  load_cache();
  live_workers.fetch_add(1);
  worker_ = std::thread([this] { run(); });
}

bool Client::enqueue(std::unique_ptr<Captured> captured) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_ && queue_.size() < options_.queue_size) {
      Work work;
      work.captured = std::move(captured);
      queue_.push_back(std::move(work));
      ++stats_.captured;
      wake_.notify_one();
      return true;
    }
  }
  discard("queue_overflow", "error");
  return false;
}

bool Client::enqueue_transaction(std::unique_ptr<TransactionRecord> record) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_ && queue_.size() < options_.queue_size) {
      Work work;
      work.transaction = std::move(record);
      queue_.push_back(std::move(work));
      wake_.notify_one();
      return true;
    }
  }
  discard("queue_overflow", "transaction");
  return false;
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
  try {
    static auto& dropped = metrics::Registry::default_registry().counter(
        "monitoring_sentry_events_dropped_total",
        "Sentry events and transactions not delivered, by client-report reason.",
        {"reason", "category"});
    dropped.labels(reason, category).inc(count);
  } catch (...) {  // the counter is an extra; reporting works without it
  }
}

Stats Client::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

bool Client::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  wake_.notify_all();
  return idle_.wait_for(lock, timeout, [&] { return (queue_.empty() && !busy_) || exited_; });
}

void Client::close(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  if (!worker_.joinable()) return;
  // No new work from here on; the worker sends what is queued until the deadline (without
  // retry waits), caches the rest and exits. A send still in flight (a hanging server) is
  // bounded by the HTTP timeout, so past the deadline its envelope is cached from here.
  stopping_ = true;
  close_deadline_ = deadline;
  wake_.notify_all();
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
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty() && stopping_) break;
    Work work = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    try {
      process(work);
    } catch (...) {
      // A failure on one event (before_send throwing, out of memory) must not stop the thread.
    }
    lock.lock();
    busy_ = false;
    if (queue_.empty()) {
      lock.unlock();
      send_pending_report();
      lock.lock();
      if (queue_.empty() && !busy_) idle_.notify_all();
    }
  }
  lock.unlock();
  send_pending_report();
  lock.lock();
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
    work.captured->global_scope = load_global_scope();
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
    client = std::move(detail::g_client);
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
  {
    auto& crumbs = detail::ring();
    std::lock_guard lock(crumbs.mutex);
    crumbs.capacity = options.max_breadcrumbs;
    while (crumbs.items.size() > crumbs.capacity) crumbs.items.pop_front();
  }
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
    detail::g_client = client;
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

std::string capture_exception(std::exception_ptr error, const Tags& tags) {
  auto client = detail::current_client();
  if (!client || !error) return {};
  if (!detail::sampled(client->options().sample_rate)) {
    client->discard("sample_rate", "error");
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
  auto client = detail::current_client();
  if (!client) return {};
  if (!detail::sampled(client->options().sample_rate)) {
    client->discard("sample_rate", "error");
    return {};
  }
  auto captured = detail::start_capture(level, tags);
  captured->event.message = std::string(message);
  std::string id = captured->event.event_id;
  return client->enqueue(std::move(captured)) ? id : std::string();
}

void add_breadcrumb(Breadcrumb breadcrumb) {
  auto item = std::make_shared<const Breadcrumb>(std::move(breadcrumb));
  auto& crumbs = detail::ring();
  std::lock_guard lock(crumbs.mutex);
  if (crumbs.capacity == 0) return;
  crumbs.items.push_back(std::move(item));
  while (crumbs.items.size() > crumbs.capacity) crumbs.items.pop_front();
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
