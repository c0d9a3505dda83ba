// The logging backend: one thread that drains every producer queue in timestamp order,
// formats, scrubs and writes; plus configure/shutdown/flush and the hot path's slow paths.

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <optional>
#include <thread>
#include <unordered_set>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "clock.hpp"
#include "formatter.hpp"
#include "monitoring/error.hpp"
#include "monitoring/logging/observer.hpp"
#include "monitoring/logging/options.hpp"
#include "monitoring/metrics/registry.hpp"
#include "runtime.hpp"
#include "signals.hpp"
#include "sinks.hpp"

namespace monitoring::logging {
namespace detail {

constinit HotState g_hot;
[[gnu::tls_model("initial-exec")]] thread_local constinit ProducerQueue* tls_queue = nullptr;
[[gnu::tls_model("initial-exec")]] thread_local constinit bool tls_is_backend = false;

namespace {

thread_local constinit bool tls_thread_exiting = false;

constexpr std::size_t kFlushThreshold = 1u << 20;  // write a buffer out once it holds 1 MiB

void print_stderr(std::string_view text) {
  std::string line = "monitoring: ";
  line.append(text);
  line.push_back('\n');
  [[maybe_unused]] const ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
}

// ---- library metrics ---------------------------------------------------------------------

struct LibraryMetrics {
  metrics::Counter* dropped_queue_full = nullptr;
  metrics::Counter* dropped_shutdown = nullptr;
  metrics::Counter* dropped_write_error = nullptr;
  metrics::Counter* write_errors = nullptr;
};

LibraryMetrics& library_metrics() noexcept {
  static LibraryMetrics metrics = []() noexcept {
    LibraryMetrics result;
    try {
      auto& registry = metrics::Registry::default_registry();
      auto& dropped = registry.counter("monitoring_log_records_dropped_total",
                                       "Log records lost: queue full with the drop policy, logged "
                                       "after shutdown, or not written because of a "
                                       "write error.",
                                       {"reason"});
      result.dropped_queue_full = &dropped.labels("queue_full");
      result.dropped_shutdown = &dropped.labels("shutdown");
      result.dropped_write_error = &dropped.labels("write_error");
      result.write_errors = &registry
                                 .counter("monitoring_log_write_errors_total",
                                          "Failed writes to log outputs (file, console).")
                                 .labels();
    } catch (...) {
      // The counters are an extra; logging works without them.
    }
    return result;
  }();
  return metrics;
}

// ---- process-wide state ------------------------------------------------------------------

class Backend;

// One subscription. `active` is checked right before every call, so an unsubscribe takes
// effect even for the rest of a batch that still holds an older list.
struct ObserverEntry {
  std::uint64_t id = 0;
  RecordObserver observer;
  Level min_level = Level::kInfo;
  std::atomic<bool> active{true};
};
using ObserverList = std::vector<std::shared_ptr<ObserverEntry>>;

struct Runtime {
  std::mutex control;  // configure / shutdown / flush / reopen
  std::unique_ptr<Backend> backend;
  std::atomic<std::size_t> queue_capacity{1u << 20};
  bool process_hooks_installed = false;

  std::mutex queues_mutex;
  std::vector<ProducerQueue*> queues;
  std::atomic<std::uint64_t> queues_version{0};
  std::uint64_t next_queue_serial = 1;  // guarded by queues_mutex
  // A ring with its pages faulted in, waiting for the next thread's first record, so that
  // thread's first records do not page-fault; the backend refills it. Guarded by
  // queues_mutex; spare_capacity (0: none) is also read without the lock by the backend.
  std::byte* spare_ring = nullptr;
  std::atomic<std::size_t> spare_capacity{0};

  std::mutex retire_mutex;
  std::vector<const LoggerState*> retired;
  bool retire_deferred = false;  // a backend consumes: retired states wait for its next pass
  // Retired states that records kept for a backtrace still point to: freed once no kept
  // record does. Touched by the backend thread, or under `control` with no backend running.
  std::vector<const LoggerState*> pinned;
  std::atomic<std::size_t> backtrace_capacity{0};  // LoggingOptions::backtrace

  std::mutex wake_mutex;
  std::condition_variable wake_cv;
  bool wake = false;

  std::atomic<std::uint64_t> flush_requested{0};
  std::atomic<std::uint64_t> flush_done{0};
  std::atomic<std::uint64_t> reopen_requested{0};
  std::atomic<std::uint64_t> reopen_done{0};
  std::mutex done_mutex;
  std::condition_variable done_cv;

  // Subscriptions: an immutable list replaced under observer_mutex; the backend reloads it
  // when observers_version moves. It holds dispatch_mutex while it processes a batch, so an
  // unsubscribe that takes dispatch_mutex once knows no call of its observer is running.
  // Lock order: dispatch_mutex before observer_mutex.
  std::mutex observer_mutex;
  std::shared_ptr<const ObserverList> observers;
  std::uint64_t next_observer_id = 1;
  std::atomic<std::uint64_t> observers_version{0};
  std::mutex dispatch_mutex;

  // The backend's tick converter, republished at every resync: turns a LogPosition's ticks
  // into the time its records' timestamps are compared with.
  std::mutex clock_mutex;
  std::optional<TickConverter> published_clock;

  std::atomic<std::uint64_t> written{0};
  // Records counted in `written` that a failed write lost afterwards (rare, so kept apart:
  // `written` is published once per batch, not with a locked add per record).
  std::atomic<std::uint64_t> written_lost{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> write_errors{0};
  std::atomic<std::uint64_t> producers_blocked{0};  // waiting for queue space right now
  std::atomic<std::uint64_t> producer_waits{0};
};

Runtime& runtime() {
  // Leaked on purpose: threads may log (and exit) while the process runs its destructors.
  static Runtime* instance = new Runtime();
  return *instance;
}

void wake_backend() {
  Runtime& rt = runtime();
  {
    std::lock_guard lock(rt.wake_mutex);
    rt.wake = true;
  }
  rt.wake_cv.notify_one();
}

void publish_done(std::atomic<std::uint64_t>& done, std::uint64_t ticket) {
  Runtime& rt = runtime();
  {
    std::lock_guard lock(rt.done_mutex);
    if (done.load(std::memory_order_relaxed) < ticket)
      done.store(ticket, std::memory_order_release);
  }
  rt.done_cv.notify_all();
}

// Thread-exit hook: the queue is handed to the backend, which frees it once drained.
struct QueueOwner {
  ProducerQueue* queue = nullptr;
  ~QueueOwner() {
    tls_thread_exiting = true;
    tls_queue = nullptr;
    if (queue != nullptr) queue->abandoned.store(true, std::memory_order_release);
  }
};
thread_local QueueOwner tls_queue_owner;

// ---- the backend -------------------------------------------------------------------------

class Backend {
 public:
  Backend(const LoggingOptions& options, std::unique_ptr<FileSink> file,
          std::unique_ptr<ConsoleSink> console)
      : file_(std::move(file)), console_(std::move(console)), formatter_(options) {
    json_scratch_.reserve(4096);
    publish_clock();
  }
  ~Backend() { stop(); }

  /// Drops what earlier runs left in the queues (records whose logger may be gone) and
  /// applies their context updates, so the queues start consistent. Before start() only.
  void discard_leftovers() {
    forget_backtraces();
    pass(true);
  }

  /// Drops every thread's kept records unread, then the logger states they pinned. With no
  /// backend running only.
  static void forget_backtraces() noexcept {
    Runtime& rt = runtime();
    {
      std::lock_guard lock(rt.queues_mutex);
      for (ProducerQueue* queue : rt.queues)
        if (queue->backtrace) queue->backtrace->clear();
    }
    for (const LoggerState* chain : rt.pinned) delete_state_chain(chain);
    rt.pinned.clear();
  }

  void start() {
    // The thread blocks every signal: the application's handlers (and our SIGHUP flag) run
    // on its own threads, and a write to a closed pipe returns EPIPE instead of killing us.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    thread_ = std::thread([this] { run(); });
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  }

  void stop() noexcept {
    stop_.store(true, std::memory_order_release);
    wake_backend();
    if (thread_.joinable()) {
      try {
        thread_.join();
      } catch (...) {
      }
    }
    file_.reset();  // finishes pending compression
    console_.reset();
  }

 private:
  struct Cursor {
    ProducerQueue* queue;
    std::uint64_t position;
    std::uint64_t end;
    std::uint64_t released;
    bool abandoned;
  };

  void run() noexcept {
    tls_is_backend = true;
    g_backend_tid.store(current_thread_id(), std::memory_order_relaxed);
    unsigned idle = 0;
    bool reported_failure = false;
    while (true) {
      Runtime& rt = runtime();
      const bool stopping = stop_.load(std::memory_order_acquire);
      const std::uint64_t flush_ticket = rt.flush_requested.load(std::memory_order_acquire);
      const std::uint64_t reopen_ticket = rt.reopen_requested.load(std::memory_order_acquire);
      const std::uint64_t crash_ticket = g_crash_request.load(std::memory_order_acquire);
      std::size_t processed = 0;
      try {
        if (g_sighup_pending.exchange(false, std::memory_order_acq_rel) ||
            reopen_ticket != rt.reopen_done.load(std::memory_order_relaxed)) {
          if (file_) file_->reopen();
        }
        periodic();  // first: a day change or a moved file applies to this sweep's records
        {
          std::lock_guard dispatch(rt.dispatch_mutex);
          processed = pass(false);
          if (crash_ticket != g_crash_done.load(std::memory_order_relaxed)) write_crash_backtrace();
        }
        flush_outputs();
        refill_spare_ring();
      } catch (const std::exception& e) {
        if (!reported_failure) print_stderr(std::string("log backend error: ") + e.what());
        reported_failure = true;
      }
      if (written_ != 0) {
        rt.written.fetch_add(written_, std::memory_order_relaxed);
        written_ = 0;
      }
      if (reopen_ticket != rt.reopen_done.load(std::memory_order_relaxed))
        publish_done(rt.reopen_done, reopen_ticket);
      if (flush_ticket > rt.flush_done.load(std::memory_order_relaxed))
        publish_done(rt.flush_done, flush_ticket);
      if (crash_ticket != g_crash_done.load(std::memory_order_relaxed)) {
        if (file_) file_->sync();
        g_crash_done.store(crash_ticket, std::memory_order_release);
      }
      if (stopping && processed == 0) break;
      if (processed != 0) {
        idle = 0;
        // A small batch means producers log sporadically: polling again at once would chase
        // them record by record, pulling each cache line away while it is being written
        // (the log call's p90 rose by half). Waiting a moment lets a batch build up.
        if (processed < kSmallBatch && !stopping) idle_wait(kFirstSleep);
      } else {
        idle_wait(idle++);
      }
    }
    try {
      flush_outputs();  // to the OS; no fsync: a clean exit loses nothing from the page cache
    } catch (...) {
    }
  }

  // Prepares the next thread's ring here, off every log call, once one was taken (or the
  // configured capacity changed): about 0.1 ms for 1 MiB, once per new thread.
  static void refill_spare_ring() noexcept {
    Runtime& rt = runtime();
    const std::size_t capacity = rt.queue_capacity.load(std::memory_order_relaxed);
    if (rt.spare_capacity.load(std::memory_order_relaxed) == capacity) return;
    std::byte* memory = map_ring_memory(capacity, /*populate=*/true);
    if (memory == nullptr) return;
    std::byte* replaced;
    std::size_t replaced_capacity;
    {
      std::lock_guard lock(rt.queues_mutex);
      replaced = std::exchange(rt.spare_ring, memory);
      replaced_capacity = rt.spare_capacity.exchange(capacity, std::memory_order_relaxed);
    }
    unmap_ring_memory(replaced, replaced_capacity);
  }

  static constexpr std::size_t kSmallBatch = 64;
  static constexpr unsigned kFirstSleep = 3;  // idle_wait's first step that sleeps (50 us)

  // Nothing to do: yield a few times (a burst may be coming), then sleep with growing
  // timeouts up to 1 ms. Producers with a full queue, flush() and stop() wake us early.
  void idle_wait(unsigned idle) {
    if (idle < kFirstSleep) {
      std::this_thread::yield();
      return;
    }
    const auto timeout =
        std::min(std::chrono::microseconds(1000),
                 std::chrono::microseconds(50 << std::min(idle - kFirstSleep, 5u)));
    Runtime& rt = runtime();
    std::unique_lock lock(rt.wake_mutex);
    rt.wake_cv.wait_for(lock, timeout, [&] { return rt.wake; });
    rt.wake = false;
  }

  void periodic() {
    const auto now = std::chrono::steady_clock::now();
    if (file_) file_->tick(realtime_ns(), now);
    if (now >= next_resync_) {
      next_resync_ = now + std::chrono::seconds(1);
      if (Runtime& rt = runtime(); !rt.pinned.empty()) {
        const std::vector<const LoggerState*> chains = std::exchange(rt.pinned, {});
        release_states(chains);
      }
      clock_.resync();
      publish_clock();
      formatter_.refresh_scrubber();
    }
  }

  void publish_clock() {
    Runtime& rt = runtime();
    std::lock_guard lock(rt.clock_mutex);
    rt.published_clock = clock_;
  }

  // Takes the current subscription list when it changed (also in the middle of a batch: an
  // observer may subscribe another one from its callback).
  void refresh_observers() {
    Runtime& rt = runtime();
    std::lock_guard lock(rt.observer_mutex);
    observers_ = rt.observers;
    observers_version_ = rt.observers_version.load(std::memory_order_relaxed);
    observer_level_ = Level::kOff;
    if (observers_)
      for (const auto& entry : *observers_)
        observer_level_ = std::min(observer_level_, entry->min_level);
  }

  // `level`: the record's, or for a backtrace record the level of the error it precedes (an
  // observer that sees the error sees its backtrace, whatever the records' own levels).
  void dispatch(const RecordView& view, Level level) {
    for (const auto& entry : *observers_) {
      if (level < entry->min_level || !entry->active.load(std::memory_order_acquire)) continue;
      try {
        entry->observer(view);
      } catch (...) {
        // An observer's failure must not stop logging.
      }
    }
  }

  void flush_outputs() {
    if (file_) file_->flush();
    if (console_) console_->flush();
  }

  // Applies context updates and skips padding up to the next log record of the cursor.
  static void skip_to_record(Cursor& cursor) {
    while (cursor.position < cursor.end) {
      std::byte* chunk = cursor.queue->ring.at(cursor.position);
      const auto header = load_unaligned<ChunkHeader>(chunk);
      if (header.kind == kKindLog) return;
      if (header.kind == kKindContext) {
        auto* record = std::launder(reinterpret_cast<ContextRecord*>(chunk));
        cursor.queue->context = std::move(record->context);
        record->~ContextRecord();
      }
      cursor.position += header.size;
    }
  }

  static std::uint64_t timestamp_at(const Cursor& cursor) {
    return load_unaligned<std::uint64_t>(cursor.queue->ring.at(cursor.position) +
                                         offsetof(LogHeader, timestamp));
  }

  // One sweep: everything published in every queue when the sweep starts, merged by
  // timestamp. Returns the number of log records handled.
  std::size_t pass(bool discard) {
    Runtime& rt = runtime();
    // Retired states first, then the queue list and the queue ends: every record pointing
    // to these states was published (in a queue registered even earlier) before they were
    // retired, so this sweep sees it, and the states can go afterwards. The other order
    // misses a queue registered between the two steps.
    retired_.clear();
    {
      std::lock_guard lock(rt.retire_mutex);
      retired_.swap(rt.retired);
    }
    if (rt.queues_version.load(std::memory_order_acquire) != queues_version_) {
      std::lock_guard lock(rt.queues_mutex);
      queues_ = rt.queues;
      queues_version_ = rt.queues_version.load(std::memory_order_relaxed);
    }

    cursors_.clear();
    bool any_abandoned = false;
    for (ProducerQueue* queue : queues_) {
      const bool abandoned = queue->abandoned.load(std::memory_order_acquire);
      const std::uint64_t start = queue->ring.consumer_position();
      cursors_.push_back(Cursor{queue, start, queue->ring.published_end(), start, abandoned});
      any_abandoned |= abandoned;
    }

    std::size_t handled = 0;
    active_.clear();
    for (Cursor& cursor : cursors_) {
      skip_to_record(cursor);
      if (cursor.position < cursor.end) active_.push_back(&cursor);
    }
    while (!active_.empty()) {
      std::size_t pick = 0;
      if (active_.size() > 1) {
        std::uint64_t earliest = timestamp_at(*active_[0]);
        for (std::size_t i = 1; i < active_.size(); ++i) {
          const std::uint64_t timestamp = timestamp_at(*active_[i]);
          if (timestamp < earliest) {
            earliest = timestamp;
            pick = i;
          }
        }
      }
      Cursor& cursor = *active_[pick];
      const std::byte* record = cursor.queue->ring.at(cursor.position);
      const auto size = load_unaligned<ChunkHeader>(record).size;
      if (discard) {
        if ((load_unaligned<ChunkHeader>(record).flags & kFlagKept) == 0)
          count_dropped(DropReason::kShutdown);
      } else {
        handle(*cursor.queue, record, size);
      }
      ++handled;
      cursor.position += size;
      skip_to_record(cursor);
      cursor.queue->ring.advance_to(cursor.position);
      // Hand space back in slices so a producer blocked on a full queue resumes early.
      if (cursor.position - cursor.released >= cursor.queue->ring.capacity() / 8) {
        cursor.queue->ring.release();
        cursor.released = cursor.position;
      }
      if (cursor.position >= cursor.end) {
        active_[pick] = active_.back();
        active_.pop_back();
      }
    }
    for (Cursor& cursor : cursors_) {
      cursor.queue->ring.advance_to(cursor.position);
      cursor.queue->ring.release();
    }

    release_states(retired_);
    retired_.clear();

    if (any_abandoned) {
      gone_.clear();
      {
        std::lock_guard lock(rt.queues_mutex);
        for (const Cursor& cursor : cursors_) {
          if (!cursor.abandoned) continue;
          std::erase(rt.queues, cursor.queue);
          // An exited thread's ring, already faulted in, is the next thread's spare.
          const std::size_t capacity = cursor.queue->ring.capacity();
          if (rt.spare_ring == nullptr &&
              capacity == rt.queue_capacity.load(std::memory_order_relaxed)) {
            rt.spare_ring = cursor.queue->ring.take_memory();
            rt.spare_capacity.store(capacity, std::memory_order_relaxed);
          }
          gone_.push_back(cursor.queue);
        }
        rt.queues_version.fetch_add(1, std::memory_order_release);
        queues_ = rt.queues;
        queues_version_ = rt.queues_version.load(std::memory_order_relaxed);
      }
      // Unmapped outside the lock: a new thread's first log call takes it to register its
      // queue, and must not wait while a faulted-in 1 MiB ring is unmapped (TLB shootdowns
      // included).
      for (ProducerQueue* queue : gone_) delete queue;
    }
    return handled;
  }

  // One record out of a queue: kept for the backtrace, or written (after the thread's
  // backtrace when it is an error).
  void handle(ProducerQueue& queue, const std::byte* record, std::uint32_t size) {
    const auto chunk = load_unaligned<ChunkHeader>(record);
    if (chunk.flags & kFlagKept) {
      const std::size_t capacity = runtime().backtrace_capacity.load(std::memory_order_relaxed);
      if (capacity == 0) return;  // the backtrace was turned off since
      if (!queue.backtrace) queue.backtrace = std::make_unique<BacktraceStore>();
      queue.backtrace->keep(record, size, queue.context, capacity);
      return;
    }
    const auto level = static_cast<Level>(chunk.level);
    if (level >= Level::kError && queue.backtrace && !queue.backtrace->empty()) {
      queue.backtrace->drain(
          [&](const std::byte* kept, const monitoring::detail::ContextData* context) {
            process(queue, kept, context, level);
          });
    }
    process(queue, record, queue.context.get(), std::nullopt);
  }

  // A fatal signal ends the thread's story like an error record would: the records kept for
  // its backtrace go out (after everything it logged, which this sweep has written), as
  // before a CRITICAL record. The crash itself is reported by whoever handles the signal.
  void write_crash_backtrace() {
    ProducerQueue* queue = g_crash_queue.exchange(nullptr, std::memory_order_relaxed);
    if (queue == nullptr || !queue->backtrace || queue->backtrace->empty()) return;
    queue->backtrace->drain(
        [&](const std::byte* kept, const monitoring::detail::ContextData* context) {
          process(*queue, kept, context, Level::kCritical);
        });
  }

  // Frees retired logger states, except those a kept record points to: those wait in
  // rt.pinned, checked again once a second (periodic).
  void release_states(const std::vector<const LoggerState*>& chains) {
    if (chains.empty()) return;
    Runtime& rt = runtime();
    bool any_kept = false;
    for (const ProducerQueue* queue : queues_)
      any_kept |= queue->backtrace != nullptr && !queue->backtrace->empty();
    if (!any_kept) {
      for (const LoggerState* chain : chains) delete_state_chain(chain);
      return;
    }
    std::unordered_set<const LoggerState*> candidates;
    for (const LoggerState* chain : chains)
      for (const LoggerState* state = chain; state != nullptr; state = state->older)
        candidates.insert(state);
    std::unordered_set<const LoggerState*> referenced;
    for (const ProducerQueue* queue : queues_)
      if (queue->backtrace != nullptr) queue->backtrace->collect(candidates, referenced);
    for (const LoggerState* chain : chains) {
      bool in_use = false;
      for (const LoggerState* state = chain; state != nullptr && !in_use; state = state->older)
        in_use = referenced.contains(state);
      if (in_use) {
        rt.pinned.push_back(chain);
      } else {
        delete_state_chain(chain);
      }
    }
  }

  void process(ProducerQueue& queue, const std::byte* record,
               const monitoring::detail::ContextData* context, std::optional<Level> backtrace_of) {
    Runtime& rt = runtime();
    // Counted as written here, published at the end of the batch; a write that loses it
    // later counts it in written_lost (count_write_lost).
    ++written_;
    const auto header = load_unaligned<LogHeader>(record);
    formatter_.prepare(record, context, queue.thread_id, clock_.to_unix_ns(header.timestamp));
    RecordView& view = formatter_.view();
    view.backtrace = backtrace_of.has_value();
    const Level observed_level = backtrace_of.value_or(view.level);
    if (rt.observers_version.load(std::memory_order_acquire) != observers_version_)
      refresh_observers();
    const bool observe = observers_ && !observers_->empty() && observed_level >= observer_level_;

    std::string_view json_line;  // without the newline
    std::size_t line_start = 0;
    if (file_) {
      std::string& buffer = file_->buffer();
      line_start = buffer.size();
      formatter_.append_json(buffer);
      json_line = std::string_view(buffer).substr(line_start, buffer.size() - line_start - 1);
    } else if ((console_ && console_->json()) || observe) {
      json_scratch_.clear();
      formatter_.append_json(json_scratch_);
      json_line = std::string_view(json_scratch_).substr(0, json_scratch_.size() - 1);
    }
    if (console_) {
      std::string& buffer = console_->buffer();
      if (console_->json()) {
        buffer.append(json_line);
        buffer.push_back('\n');
      } else {
        formatter_.append_text(buffer, console_->colors());
      }
      if (buffer.size() >= kFlushThreshold) console_->flush();
    }
    if (observe) {
      formatter_.view().json = json_line;
      dispatch(view, observed_level);
    }
    if (file_) {
      file_->after_line(line_start);
      if (file_->buffer().size() >= kFlushThreshold) file_->flush();
    }
  }

  std::unique_ptr<FileSink> file_;
  std::unique_ptr<ConsoleSink> console_;
  Formatter formatter_;
  TickConverter clock_;
  std::string json_scratch_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::vector<ProducerQueue*> queues_;
  std::uint64_t queues_version_ = UINT64_MAX;
  std::vector<const LoggerState*> retired_;
  std::vector<Cursor> cursors_;
  std::vector<Cursor*> active_;
  std::vector<ProducerQueue*> gone_;  // abandoned queues of this pass, freed after unlisting
  std::shared_ptr<const ObserverList> observers_;
  std::uint64_t observers_version_ = UINT64_MAX;
  Level observer_level_ = Level::kOff;
  std::uint64_t written_ = 0;
  std::chrono::steady_clock::time_point next_resync_ =
      std::chrono::steady_clock::now() + std::chrono::seconds(1);
};

// ---- fork --------------------------------------------------------------------------------

// fork() copies only the calling thread: hold every lock across it so the child's copies are
// consistent, then in the child forget the backend (its thread does not exist there).
void before_fork() {
  Runtime& rt = runtime();
  rt.control.lock();
  lock_logger_registry();
  rt.queues_mutex.lock();
  rt.retire_mutex.lock();
  rt.dispatch_mutex.lock();
  rt.observer_mutex.lock();
  rt.clock_mutex.lock();
  rt.wake_mutex.lock();
  rt.done_mutex.lock();
}

void after_fork_parent() {
  Runtime& rt = runtime();
  rt.done_mutex.unlock();
  rt.wake_mutex.unlock();
  rt.clock_mutex.unlock();
  rt.observer_mutex.unlock();
  rt.dispatch_mutex.unlock();
  rt.retire_mutex.unlock();
  rt.queues_mutex.unlock();
  unlock_logger_registry();
  rt.control.unlock();
}

void after_fork_child() {
  Runtime& rt = runtime();
  if (g_run_state.load(std::memory_order_relaxed) == RunState::kRunning) {
    g_run_state.store(RunState::kStopped, std::memory_order_relaxed);
    (void)rt.backend.release();  // its thread is not in this process; configure() starts anew
    rt.retire_deferred = false;
  }
  g_backend_tid.store(0, std::memory_order_relaxed);
  after_fork_parent();
}

void normalize(LoggingOptions& options) {
  if (options.level > Level::kOff)
    throw ConfigError("log level " + std::to_string(static_cast<int>(options.level)) +
                      " is not a level");
  std::size_t capacity = std::size_t{64} << 10;
  while (capacity < options.queue_capacity && capacity < (std::size_t{1} << 30)) capacity <<= 1;
  options.queue_capacity = capacity;
  options.max_field_bytes =
      std::clamp<std::size_t>(options.max_field_bytes, 64, std::size_t{64} << 20);
  if (options.backtrace > kMaxBacktrace)
    throw ConfigError("log backtrace: at most " + std::to_string(kMaxBacktrace) +
                      " records per thread, got " + std::to_string(options.backtrace));
  if (options.reopen_check_interval <= std::chrono::milliseconds::zero())
    options.reopen_check_interval = std::chrono::milliseconds(1000);
}

void configure_locked(const LoggingOptions& requested) {
  Runtime& rt = runtime();
  LoggingOptions options = requested;
  normalize(options);
  initialize_clock();
  library_metrics();

  // Open the outputs first: when that fails the previous configuration keeps running.
  std::unique_ptr<FileSink> file;
  if (!options.log_dir.empty()) file = std::make_unique<FileSink>(options);
  std::unique_ptr<ConsoleSink> console;
  if (options.console != ConsoleTarget::kNone)
    console = std::make_unique<ConsoleSink>(options.console, options.json, options.colors,
                                            /*counts_records=*/file == nullptr);
  if (options.scrub_options) Scrubber::set_shared(*options.scrub_options);

  const bool was_running = g_run_state.load(std::memory_order_acquire) == RunState::kRunning;
  // Switching backends while running loses nothing: producers keep filling their queues
  // (blocking if full) and the new backend continues where the old one stopped.
  if (rt.backend) {
    rt.backend->stop();
    rt.backend.reset();
  }
  if (options.backtrace == 0) Backend::forget_backtraces();  // turned off: what was kept goes
  apply_levels(options.level, options.module_levels, options.backtrace != 0);
  rt.backtrace_capacity.store(options.backtrace, std::memory_order_relaxed);
  g_overflow.store(options.overflow, std::memory_order_relaxed);
  g_max_field_bytes.store(static_cast<std::uint32_t>(options.max_field_bytes),
                          std::memory_order_relaxed);
  rt.queue_capacity.store(options.queue_capacity, std::memory_order_relaxed);

  auto backend = std::make_unique<Backend>(options, std::move(file), std::move(console));
  if (!was_running) {
    {
      std::lock_guard lock(rt.retire_mutex);
      rt.retire_deferred = true;
    }
    backend->discard_leftovers();
  }
  backend->start();
  rt.backend = std::move(backend);

  g_sighup_enabled.store(options.reopen_on_sighup, std::memory_order_relaxed);
  g_fatal_flush_enabled.store(options.flush_on_fatal_signal, std::memory_order_relaxed);
  install_signal_handlers(options.reopen_on_sighup, options.flush_on_fatal_signal);
  if (!rt.process_hooks_installed) {
    rt.process_hooks_installed = true;
    std::atexit([] { logging::shutdown(); });
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
  }
  g_run_state.store(RunState::kRunning, std::memory_order_release);
}

}  // namespace

// ---- hot path slow paths -----------------------------------------------------------------

std::uint64_t current_thread_id() noexcept {
  return static_cast<std::uint64_t>(::gettid());
}

bool ensure_running() noexcept {
  const RunState state = g_run_state.load(std::memory_order_acquire);
  if (state != RunState::kNotStarted || tls_is_backend) return state == RunState::kRunning;
  try {
    Runtime& rt = runtime();
    std::lock_guard lock(rt.control);
    if (g_run_state.load(std::memory_order_acquire) == RunState::kNotStarted) {
      LoggingOptions options;
      try {
        options = LoggingOptions::from_env();
      } catch (const std::exception& e) {
        print_stderr(std::string(e.what()) + "; logging starts with the defaults");
      }
      try {
        configure_locked(options);
      } catch (const std::exception& e) {
        print_stderr(std::string(e.what()) + "; logging to the console only");
        options.log_dir.clear();
        configure_locked(options);
      }
    }
  } catch (...) {
    return false;
  }
  return g_run_state.load(std::memory_order_acquire) == RunState::kRunning;
}

ProducerQueue* attach_current_thread() noexcept {
  if (tls_thread_exiting) return nullptr;
  try {
    Runtime& rt = runtime();
    const std::size_t capacity = rt.queue_capacity.load(std::memory_order_relaxed);
    std::byte* memory = nullptr;
    {
      std::lock_guard lock(rt.queues_mutex);
      if (rt.spare_ring != nullptr &&
          rt.spare_capacity.load(std::memory_order_relaxed) == capacity) {
        memory = std::exchange(rt.spare_ring, nullptr);
        rt.spare_capacity.store(0, std::memory_order_relaxed);
      }
    }
    // Threads started faster than the backend refills: fault the ring in during this first
    // call (one slow call) rather than across the thread's first records.
    if (memory == nullptr) memory = map_ring_memory(capacity, /*populate=*/true);
    std::unique_ptr<ProducerQueue> queue;
    try {
      queue = std::make_unique<ProducerQueue>(capacity, memory, current_thread_id(), 0);
    } catch (...) {
      if (!queue) unmap_ring_memory(memory, capacity);
      throw;
    }
    {
      std::lock_guard lock(rt.queues_mutex);
      queue->serial = rt.next_queue_serial++;
      rt.queues.push_back(queue.get());
      rt.queues_version.fetch_add(1, std::memory_order_release);
    }
    tls_queue = queue.release();
    tls_queue_owner.queue = tls_queue;
    return tls_queue;
  } catch (...) {
    return nullptr;
  }
}

std::byte* reserve_slow(ProducerQueue& queue, std::uint32_t size) noexcept {
  // The backend must never wait for itself; the drop policy never waits at all.
  if (tls_is_backend || g_overflow.load(std::memory_order_relaxed) == OverflowPolicy::kDrop)
    return nullptr;
  wake_backend();
  Runtime& rt = runtime();
  rt.producer_waits.fetch_add(1, std::memory_order_relaxed);
  rt.producers_blocked.fetch_add(1, std::memory_order_relaxed);
  struct Unblock {
    Runtime& rt;
    ~Unblock() { rt.producers_blocked.fetch_sub(1, std::memory_order_relaxed); }
  } unblock{rt};
  for (unsigned attempt = 1;; ++attempt) {
    if (g_run_state.load(std::memory_order_acquire) != RunState::kRunning) return nullptr;
    if (std::byte* slot = queue.ring.try_reserve(size)) return slot;
    if (attempt < 32) {
#if defined(__x86_64__)
      _mm_pause();
#endif
    } else if (attempt < 64) {
      std::this_thread::yield();
    } else {
      if (attempt % 32 == 0) wake_backend();
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
}

void count_dropped(DropReason reason, std::uint64_t records) noexcept {
  runtime().dropped.fetch_add(records, std::memory_order_relaxed);
  const LibraryMetrics& metrics = library_metrics();
  metrics::Counter* counter = reason == DropReason::kQueueFull  ? metrics.dropped_queue_full
                              : reason == DropReason::kShutdown ? metrics.dropped_shutdown
                                                                : metrics.dropped_write_error;
  if (counter != nullptr) counter->inc(records);
}

void count_write_lost(std::uint64_t records) noexcept {
  runtime().written_lost.fetch_add(records, std::memory_order_relaxed);
  count_dropped(DropReason::kWriteError, records);
}

void count_write_error() noexcept {
  runtime().write_errors.fetch_add(1, std::memory_order_relaxed);
  if (metrics::Counter* counter = library_metrics().write_errors) counter->inc();
}

void retire_logger_states(const LoggerState* newest) noexcept {
  Runtime& rt = runtime();
  std::lock_guard lock(rt.retire_mutex);
  if (rt.retire_deferred) {
    try {
      rt.retired.push_back(newest);
      return;
    } catch (...) {
      // Out of memory: leaking the states is safer than freeing them under a queued record.
      return;
    }
  }
  delete_state_chain(newest);
}

}  // namespace detail

using namespace detail;

// ---- public control API --------------------------------------------------------------------

void configure(const LoggingOptions& options) {
  Runtime& rt = runtime();
  if (tls_is_backend) throw Error("logging::configure() cannot be called from a record observer");
  std::lock_guard lock(rt.control);
  configure_locked(options);
}

void shutdown() noexcept {
  if (tls_is_backend) return;
  Runtime& rt = runtime();
  std::lock_guard lock(rt.control);
  if (g_run_state.load(std::memory_order_acquire) != RunState::kRunning) {
    g_run_state.store(RunState::kStopped, std::memory_order_release);
    return;
  }
  g_run_state.store(RunState::kStopped, std::memory_order_release);
  if (rt.backend) {
    rt.backend->stop();
    rt.backend.reset();
  }
  Backend::forget_backtraces();  // unwritten: no error asked for them
  {
    std::lock_guard retire_lock(rt.retire_mutex);
    rt.retire_deferred = false;
    for (const LoggerState* state : rt.retired) delete_state_chain(state);
    rt.retired.clear();
  }
  publish_done(rt.flush_done, rt.flush_requested.load(std::memory_order_acquire));
  publish_done(rt.reopen_done, rt.reopen_requested.load(std::memory_order_acquire));
}

void flush() {
  if (tls_is_backend) return;
  Runtime& rt = runtime();
  std::lock_guard lock(rt.control);
  if (g_run_state.load(std::memory_order_acquire) != RunState::kRunning || !rt.backend) return;
  const std::uint64_t ticket = rt.flush_requested.fetch_add(1, std::memory_order_acq_rel) + 1;
  wake_backend();
  std::unique_lock done_lock(rt.done_mutex);
  rt.done_cv.wait(done_lock,
                  [&] { return rt.flush_done.load(std::memory_order_acquire) >= ticket; });
}

void reopen() {
  if (tls_is_backend) return;
  Runtime& rt = runtime();
  std::lock_guard lock(rt.control);
  if (g_run_state.load(std::memory_order_acquire) != RunState::kRunning || !rt.backend) return;
  const std::uint64_t ticket = rt.reopen_requested.fetch_add(1, std::memory_order_acq_rel) + 1;
  wake_backend();
  std::unique_lock done_lock(rt.done_mutex);
  rt.done_cv.wait(done_lock,
                  [&] { return rt.reopen_done.load(std::memory_order_acquire) >= ticket; });
}

bool is_running() noexcept {
  return g_run_state.load(std::memory_order_acquire) == RunState::kRunning;
}

LoggingStats stats() noexcept {
  Runtime& rt = runtime();
  // Lost records may be counted before the batch that wrote them is published: never wrap.
  const std::uint64_t lost = rt.written_lost.load(std::memory_order_relaxed);
  const std::uint64_t written = rt.written.load(std::memory_order_relaxed);
  return LoggingStats{written > lost ? written - lost : 0,
                      rt.dropped.load(std::memory_order_relaxed),
                      rt.write_errors.load(std::memory_order_relaxed),
                      rt.producers_blocked.load(std::memory_order_relaxed),
                      rt.producer_waits.load(std::memory_order_relaxed)};
}

RecordSubscription subscribe_records(RecordObserver observer, Level min_level) {
  if (!observer) return RecordSubscription();
  Runtime& rt = runtime();
  auto entry = std::make_shared<ObserverEntry>();
  entry->observer = std::move(observer);
  entry->min_level = min_level;
  std::lock_guard lock(rt.observer_mutex);
  auto list = rt.observers ? std::make_shared<ObserverList>(*rt.observers)
                           : std::make_shared<ObserverList>();
  entry->id = rt.next_observer_id++;
  list->push_back(entry);
  rt.observers = std::move(list);
  rt.observers_version.fetch_add(1, std::memory_order_release);
  return RecordSubscription(entry->id);
}

void RecordSubscription::reset() noexcept {
  const std::uint64_t id = std::exchange(id_, 0);
  if (id == 0) return;
  Runtime& rt = runtime();
  std::shared_ptr<ObserverEntry> removed;
  try {
    std::lock_guard lock(rt.observer_mutex);
    if (!rt.observers) return;
    auto list = std::make_shared<ObserverList>();
    list->reserve(rt.observers->size());
    for (const auto& entry : *rt.observers) {
      if (entry->id == id)
        removed = entry;
      else
        list->push_back(entry);
    }
    rt.observers = std::move(list);
    rt.observers_version.fetch_add(1, std::memory_order_release);
  } catch (...) {
    // Out of memory for the new list: the entry stays listed but inactive below.
    std::lock_guard lock(rt.observer_mutex);
    if (rt.observers)
      for (const auto& entry : *rt.observers)
        if (entry->id == id) removed = entry;
  }
  if (!removed) return;
  removed->active.store(false, std::memory_order_release);
  // Inside a callback the backend is this thread: the flag suffices, and waiting would
  // deadlock. Elsewhere wait for the batch in progress, then free the observer here.
  if (tls_is_backend) return;
  RecordObserver observer;
  {
    std::lock_guard dispatch(rt.dispatch_mutex);
    observer = std::move(removed->observer);
  }
}

LogPosition current_log_position() noexcept {
  ProducerQueue* queue = tls_queue;
  if (queue == nullptr || tls_is_backend ||
      g_run_state.load(std::memory_order_relaxed) != RunState::kRunning)
    return {};
  return LogPosition{queue->serial, queue->ring.producer_position(), now_ticks()};
}

bool wait_until_observed(const LogPosition& position, std::chrono::nanoseconds timeout,
                         std::chrono::system_clock::time_point* record_time) {
  Runtime& rt = runtime();
  if (record_time != nullptr) {
    std::int64_t ns = 0;
    {
      std::lock_guard lock(rt.clock_mutex);
      if (rt.published_clock) ns = rt.published_clock->to_unix_ns(position.ticks);
    }
    *record_time = ns != 0 ? std::chrono::system_clock::time_point(
                                 std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                     std::chrono::nanoseconds(ns)))
                           : std::chrono::system_clock::now();
  }
  if (!position || tls_is_backend) return false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::microseconds(20);
  while (true) {
    if (g_run_state.load(std::memory_order_acquire) != RunState::kRunning) return false;
    bool observed = true;  // a queue no longer listed was drained before it was freed
    {
      std::lock_guard lock(rt.queues_mutex);
      for (const ProducerQueue* queue : rt.queues)
        if (queue->serial == position.queue)
          observed = queue->ring.released_position() >= position.end;
    }
    if (observed) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    wake_backend();
    std::this_thread::sleep_for(std::min<std::chrono::nanoseconds>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

bool wait_until_observed_in_signal_handler(std::int64_t timeout_ns) noexcept {
  // The backend cannot drain while it is the one waiting; a stopped one never will.
  if (tls_is_backend) return false;
  ProducerQueue* queue = tls_queue;
  if (queue == nullptr) return true;
  const std::uint64_t end = queue->ring.producer_position();
  // This is a crash: the backend also writes the thread's backtrace, as the fatal-signal
  // flush does, so that the report carries the thread's last steps.
  g_crash_queue.store(queue, std::memory_order_relaxed);  // published by the fetch_add
  const std::uint64_t ticket = g_crash_request.fetch_add(1, std::memory_order_acq_rel) + 1;
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (true) {
    if (g_run_state.load(std::memory_order_acquire) != RunState::kRunning) return false;
    // The backend sleeps at most 1 ms when idle, so polling finds it soon without a wake-up
    // (which would take a mutex: not async-signal-safe).
    if (queue->ring.released_position() >= end &&
        g_crash_done.load(std::memory_order_acquire) >= ticket)
      return true;
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    const std::int64_t elapsed =
        (now.tv_sec - start.tv_sec) * 1'000'000'000LL + (now.tv_nsec - start.tv_nsec);
    if (elapsed >= timeout_ns) return false;
    const timespec pause{0, 200'000};
    nanosleep(&pause, nullptr);
  }
}

}  // namespace monitoring::logging
