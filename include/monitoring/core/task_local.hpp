#pragma once

// Thread-local state that follows a task instead of a thread.
//
// The request context, Sentry's thread scope and the active span stack live in thread-locals,
// which is right for code that runs start to end on one thread. A coroutine suspends and may
// resume on another thread, between other coroutines: it needs its own copy of that state,
// installed on whichever thread runs it, for as long as it runs. The components that own such
// thread-locals register how to save and swap them here (core cannot know sentry), and an
// executor wrapper (<monitoring/monitor/coroutine.hpp>) enters the task around each piece of
// work it runs. Code that never enters a task pays nothing: the thread-locals are read as
// before.

#include <array>
#include <cstddef>
#include <mutex>

namespace monitoring::core {

/// How one component's thread-local state is carried by a task.
struct TaskLocalSlot {
  /// Allocates a task's copy of the state, holding what a task started now on the calling
  /// thread inherits (a child starts from its parent's state, then evolves on its own).
  void* (*inherit)();
  /// Exchanges the task's copy with the calling thread's state: the same call enters the task
  /// (the thread's state is parked in the copy) and leaves it (the task's changes are saved).
  void (*exchange)(void* storage) noexcept;
  /// Frees a task's copy.
  void (*destroy)(void* storage) noexcept;
};

/// The most slots a process can register (core, sentry's scope and spans use three).
inline constexpr std::size_t kMaxTaskLocalSlots = 8;

/// Registers a slot. Meant for static initialization of the owning component: a task created
/// before the call does not carry the slot. Throws std::logic_error beyond kMaxTaskLocalSlots.
void register_task_local(const TaskLocalSlot& slot);

/// Whom a scope opened now belongs to: the task entered on the calling thread, else the thread.
/// Scopes (the context's, Sentry's ThreadScope) restore their previous state only under the
/// same owner, so one that ends elsewhere (moved to another thread, or in a coroutine frame
/// destroyed outside its task) leaves the state it finds alone.
const void* scope_owner() noexcept;

/// The registered thread-local state of one task, parked while the task does not run.
///
/// One piece of a task runs at a time: a coroutine may be resumed on another thread before the
/// thread that suspended it has left the task (Asio starts the awaited operation from inside
/// the suspended coroutine's handler), so entering waits until the previous piece has saved the
/// task's state.
class TaskLocals {
 public:
  /// A task that starts with the calling thread's current state.
  TaskLocals();
  ~TaskLocals();
  TaskLocals(const TaskLocals&) = delete;
  TaskLocals& operator=(const TaskLocals&) = delete;

  /// Installs the task's state on the calling thread for its lifetime, then saves the task's
  /// changes and gives the thread its own state back. Entering a task that is already
  /// installed on this thread (work dispatched inline from inside it) changes nothing;
  /// entering another task inside one nests.
  class [[nodiscard]] Entered {
   public:
    explicit Entered(TaskLocals& task);
    ~Entered();
    Entered(const Entered&) = delete;
    Entered& operator=(const Entered&) = delete;

   private:
    TaskLocals* task_;   // null when the task was installed already
    TaskLocals* outer_;  // the task installed before, restored as the current one
  };

 private:
  std::mutex running_;  // held by the thread the task is entered on
  std::array<void*, kMaxTaskLocalSlots> storage_{};
  std::size_t slots_ = 0;
};

}  // namespace monitoring::core
