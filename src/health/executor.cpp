#include "health/executor.hpp"

#include <utility>

namespace monitoring::health::detail {

namespace {
// Set on pool threads, so shutdown() called from a task does not wait for itself.
thread_local const void* current_pool = nullptr;
}  // namespace

struct ElasticPool::State {
  std::mutex mutex;
  std::condition_variable work_ready;
  std::condition_variable all_exited;
  std::deque<std::function<void()>> queue;
  std::size_t live = 0;  // threads started and not yet exited
  std::size_t idle = 0;  // threads waiting for work
  std::size_t max_threads;
  std::chrono::milliseconds idle_timeout;
  bool stopping = false;
};

ElasticPool::ElasticPool(std::size_t max_threads, std::chrono::milliseconds idle_timeout)
    : state_(std::make_shared<State>()) {
  state_->max_threads = max_threads == 0 ? 1 : max_threads;
  state_->idle_timeout = idle_timeout;
}

ElasticPool::~ElasticPool() {
  shutdown(std::chrono::milliseconds(0));
}

bool ElasticPool::post(std::function<void()> task) {
  std::unique_lock lock(state_->mutex);
  if (state_->stopping) return false;
  state_->queue.push_back(std::move(task));
  // Idle threads take queued tasks; start another only when there are more tasks than them.
  if (state_->queue.size() > state_->idle && state_->live < state_->max_threads) {
    ++state_->live;
    lock.unlock();
    try {
      std::thread(work, state_).detach();
    } catch (...) {
      // No thread available: the task stays queued for the threads that exist.
      std::lock_guard relock(state_->mutex);
      --state_->live;
    }
    return true;
  }
  lock.unlock();
  state_->work_ready.notify_one();
  return true;
}

void ElasticPool::work(std::shared_ptr<State> state) {
  current_pool = state.get();
  std::unique_lock lock(state->mutex);
  while (true) {
    if (!state->queue.empty()) {
      std::function<void()> task = std::move(state->queue.front());
      state->queue.pop_front();
      lock.unlock();
      task();
      task = nullptr;  // destroy captures outside the lock
      lock.lock();
      continue;
    }
    if (state->stopping) break;
    ++state->idle;
    const bool woke = state->work_ready.wait_for(
        lock, state->idle_timeout, [&] { return !state->queue.empty() || state->stopping; });
    --state->idle;
    if (!woke) break;  // idle for too long: retire
  }
  --state->live;
  if (state->live == 0) state->all_exited.notify_all();
}

void ElasticPool::shutdown(std::chrono::milliseconds grace) {
  std::deque<std::function<void()>> dropped;
  std::unique_lock lock(state_->mutex);
  state_->stopping = true;
  dropped.swap(state_->queue);
  state_->work_ready.notify_all();
  if (current_pool != state_.get())
    state_->all_exited.wait_for(lock, grace, [&] { return state_->live == 0; });
  lock.unlock();
  dropped.clear();
}

std::size_t ElasticPool::threads() const {
  std::lock_guard lock(state_->mutex);
  return state_->live;
}

struct TimerThread::State {
  using Key = std::pair<std::chrono::steady_clock::time_point, std::uint64_t>;
  std::mutex mutex;
  std::condition_variable wake;
  std::map<Key, std::function<void()>> queue;  // by time, then by order of scheduling
  std::uint64_t next_id = 1;
  bool stopping = false;
};

void TimerThread::Ticket::cancel() const {
  auto state = state_.lock();
  if (!state) return;
  std::function<void()> dropped;
  std::lock_guard lock(state->mutex);
  auto it = state->queue.find({when_, id_});
  if (it == state->queue.end()) return;
  dropped = std::move(it->second);
  state->queue.erase(it);
  // `dropped` is destroyed after the lock is released (declared first).
}

TimerThread::TimerThread() : state_(std::make_shared<State>()), thread_(run, state_) {}

TimerThread::~TimerThread() {
  stop();
}

TimerThread::Ticket TimerThread::schedule(std::chrono::steady_clock::time_point when,
                                          std::function<void()> callback) {
  Ticket ticket;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping) return ticket;
    ticket.state_ = state_;
    ticket.when_ = when;
    ticket.id_ = state_->next_id++;
    state_->queue.emplace(State::Key{when, ticket.id_}, std::move(callback));
  }
  state_->wake.notify_one();
  return ticket;
}

void TimerThread::stop() {
  std::map<State::Key, std::function<void()>> dropped;
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
    dropped.swap(state_->queue);
  }
  state_->wake.notify_one();
  if (thread_.joinable()) {
    if (thread_.get_id() == std::this_thread::get_id())
      thread_.detach();
    else
      thread_.join();
  }
}

void TimerThread::run(std::shared_ptr<State> state) {
  std::unique_lock lock(state->mutex);
  while (!state->stopping) {
    if (state->queue.empty()) {
      state->wake.wait(lock);
      continue;
    }
    auto first = state->queue.begin();
    // A copy: while we wait, cancel() or stop() may erase the entry the key lives in.
    const std::chrono::steady_clock::time_point deadline = first->first.first;
    if (deadline > std::chrono::steady_clock::now()) {
      state->wake.wait_until(lock, deadline);
      continue;
    }
    std::function<void()> callback = std::move(first->second);
    state->queue.erase(first);
    lock.unlock();
    callback();
    callback = nullptr;
    lock.lock();
  }
}

}  // namespace monitoring::health::detail
