#include "monitoring/core/task_local.hpp"

#include <atomic>
#include <mutex>
#include <stdexcept>

namespace monitoring::core {
namespace {

// Written under the mutex during static initialization; a published count makes its slots
// visible to every thread that reads it with acquire.
std::array<TaskLocalSlot, kMaxTaskLocalSlots> g_slots{};
std::atomic<std::size_t> g_slot_count{0};

std::mutex& registration_mutex() {
  static std::mutex mutex;
  return mutex;
}

// The task installed on this thread, to recognize re-entry.
thread_local constinit TaskLocals* t_current_task = nullptr;

}  // namespace

void register_task_local(const TaskLocalSlot& slot) {
  std::lock_guard lock(registration_mutex());
  const std::size_t count = g_slot_count.load(std::memory_order_relaxed);
  if (count == kMaxTaskLocalSlots)
    throw std::logic_error("monitoring: too many task-local slots registered");
  g_slots[count] = slot;
  g_slot_count.store(count + 1, std::memory_order_release);
}

const void* scope_owner() noexcept {
  return t_current_task != nullptr ? static_cast<const void*>(t_current_task) : &t_current_task;
}

TaskLocals::TaskLocals() : slots_(g_slot_count.load(std::memory_order_acquire)) {
  std::size_t made = 0;
  try {
    for (; made < slots_; ++made) storage_[made] = g_slots[made].inherit();
  } catch (...) {
    while (made > 0) {
      --made;
      g_slots[made].destroy(storage_[made]);
    }
    throw;
  }
}

TaskLocals::~TaskLocals() {
  for (std::size_t i = 0; i < slots_; ++i) g_slots[i].destroy(storage_[i]);
}

TaskLocals::Entered::Entered(TaskLocals& task)
    : task_(t_current_task == &task ? nullptr : &task), outer_(t_current_task) {
  if (task_ == nullptr) return;
  task.running_.lock();
  for (std::size_t i = 0; i < task.slots_; ++i) g_slots[i].exchange(task.storage_[i]);
  t_current_task = task_;
}

TaskLocals::Entered::~Entered() {
  if (task_ == nullptr) return;
  for (std::size_t i = task_->slots_; i > 0; --i) g_slots[i - 1].exchange(task_->storage_[i - 1]);
  t_current_task = outer_;
  task_->running_.unlock();
}

}  // namespace monitoring::core
