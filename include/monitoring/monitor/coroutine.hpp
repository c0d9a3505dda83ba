#pragma once

// Coroutines with a request context of their own.
//
// The user, request id and fields of `context::with_*` / `logger.with_*`, Sentry's
// ThreadScope and the active span live in thread-locals. A coroutine that holds such a scope
// across `co_await` would leave it on the thread while suspended (where the next coroutine on
// that thread inherits it) and find another's, or none, when it resumes on another thread.
// `monitoring::spawn` runs a coroutine as a task: an executor wrapper installs the task's own
// copy of that state around every piece of the coroutine it runs, and saves it back when the
// coroutine suspends. A task starts with the spawner's context and Sentry thread scope (not its
// spans: they may finish first) and then evolves on its own.
//
//   monitoring::spawn(io, [&]() -> boost::asio::awaitable<void> {
//     auto user = logger.with_user(42);
//     co_await process_payment();  // every log line / Sentry event inside carries user 42
//   }(), boost::asio::detached);

// clang-format off
#include <utility>  // first: Boost 1.74's awaitable.hpp uses std::exchange without including it
// clang-format on

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/require.hpp>
#include <memory>
#include <type_traits>

#include "monitoring/core/task_local.hpp"

namespace monitoring {

/// An executor that runs everything through `Inner`, with its task's context installed.
///
/// Stores in `boost::asio::any_io_executor`: properties are queried on, and required or
/// preferred from, the inner executor (the result is wrapped again, so the task is never lost
/// on the way). Copies share the task; pieces of it that reach two threads at once run one
/// after the other (see core::TaskLocals).
template <class Inner>
class TaskExecutor {
 public:
  TaskExecutor(Inner inner, std::shared_ptr<core::TaskLocals> task) noexcept
      : inner_(std::move(inner)), task_(std::move(task)) {}

  template <class Function>
  void execute(Function&& function) const {
    boost::asio::execution::execute(
        inner_, [task = task_,
                 function = std::decay_t<Function>(std::forward<Function>(function))]() mutable {
          core::TaskLocals::Entered entered(*task);
          std::move(function)();
        });
  }

  template <class Property>
  requires boost::asio::can_query<const Inner&, const Property&>::value decltype(auto) query(
      const Property& property) const
      noexcept(boost::asio::is_nothrow_query<const Inner&, const Property&>::value) {
    return boost::asio::query(inner_, property);
  }

  template <class Property>
  requires boost::asio::can_require<const Inner&, const Property&>::value auto require(
      const Property& property) const {
    using Required = std::decay_t<decltype(boost::asio::require(inner_, property))>;
    return TaskExecutor<Required>(boost::asio::require(inner_, property), task_);
  }

  template <class Property>
  requires boost::asio::can_prefer<const Inner&, const Property&>::value auto prefer(
      const Property& property) const {
    using Preferred = std::decay_t<decltype(boost::asio::prefer(inner_, property))>;
    return TaskExecutor<Preferred>(boost::asio::prefer(inner_, property), task_);
  }

  friend bool operator==(const TaskExecutor& a, const TaskExecutor& b) noexcept {
    return a.task_ == b.task_ && a.inner_ == b.inner_;
  }
  friend bool operator!=(const TaskExecutor& a, const TaskExecutor& b) noexcept {
    return !(a == b);
  }

  /// The executor this one runs on, for code that must compare or reach it.
  const Inner& inner() const noexcept { return inner_; }

 private:
  Inner inner_;
  std::shared_ptr<core::TaskLocals> task_;
};

/// `boost::asio::co_spawn` for a coroutine that must keep its own request context: the task
/// starts with the calling thread's (or calling task's) context. The completion handler runs in
/// the task's context too, unless it has an executor of its own.
template <class Executor, class T, class AwaitableExecutor, class CompletionToken>
requires boost::asio::execution::is_executor<Executor>::value auto spawn(
    const Executor& executor, boost::asio::awaitable<T, AwaitableExecutor> coroutine,
    CompletionToken&& token) {
  return boost::asio::co_spawn(
      TaskExecutor<Executor>(executor, std::make_shared<core::TaskLocals>()), std::move(coroutine),
      std::forward<CompletionToken>(token));
}

/// The same on an execution context's executor (`monitoring::spawn(io_context, ...)`).
template <class ExecutionContext, class T, class AwaitableExecutor, class CompletionToken>
requires std::is_convertible_v<ExecutionContext&, boost::asio::execution_context&>
auto spawn(ExecutionContext& context, boost::asio::awaitable<T, AwaitableExecutor> coroutine,
           CompletionToken&& token) {
  return spawn(context.get_executor(), std::move(coroutine), std::forward<CompletionToken>(token));
}

}  // namespace monitoring
