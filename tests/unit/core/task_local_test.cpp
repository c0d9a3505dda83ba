// core::TaskLocals: a task's context is installed on whichever thread enters it and parked
// when it leaves, so a scope opened in a task ends correctly on another thread.

#include "monitoring/core/task_local.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <thread>

#include "monitoring/context.hpp"

namespace context = monitoring::context;
using monitoring::core::TaskLocals;

TEST(TaskLocalsConcurrency, ScopeOpenedInATaskEndsOnAnotherThread) {
  std::optional<TaskLocals> task;
  {
    auto spawner = context::with_user("spawner");
    task.emplace();  // inherits the spawner's user
  }
  std::optional<monitoring::ContextScope> scope;  // lives in the "coroutine frame"
  std::string first_saw, first_after, second_saw, second_after_end, second_after;

  std::thread([&] {
    {
      TaskLocals::Entered entered(*task);
      first_saw = context::current().user_id();
      scope.emplace(context::with_user("task"));
    }
    first_after = context::current().empty() ? "empty" : "dirty";
  }).join();

  std::thread([&] {
    {
      TaskLocals::Entered entered(*task);
      second_saw = context::current().user_id();
      scope.reset();  // ends on a thread other than the one it began on
      second_after_end = context::current().user_id();
    }
    second_after = context::current().empty() ? "empty" : "dirty";
  }).join();

  EXPECT_EQ(first_saw, "spawner");
  EXPECT_EQ(first_after, "empty");
  EXPECT_EQ(second_saw, "task");
  EXPECT_EQ(second_after_end, "spawner");
  EXPECT_EQ(second_after, "empty");
  EXPECT_TRUE(context::current().empty());
}

TEST(TaskLocals, NestedAndReenteredTasksRestoreTheirOuterState) {
  auto thread_user = context::with_user("thread");
  TaskLocals outer_task;  // inherits "thread"
  auto outer_fields = context::with_fields({{"outer", 1}});
  {
    TaskLocals::Entered outer(outer_task);
    auto in_outer = context::with_user("outer");
    TaskLocals inner_task;  // a child of the outer task
    {
      TaskLocals::Entered inner(inner_task);
      EXPECT_EQ(context::current().user_id(), "outer");
      auto in_inner = context::with_user("inner");
      {
        TaskLocals::Entered again(inner_task);  // re-entry: same state, no swap
        EXPECT_EQ(context::current().user_id(), "inner");
      }
      EXPECT_EQ(context::current().user_id(), "inner");
    }
    EXPECT_EQ(context::current().user_id(), "outer");
    EXPECT_EQ(context::current().field("outer"), nullptr);  // set after the task started
  }
  EXPECT_EQ(context::current().user_id(), "thread");
  EXPECT_NE(context::current().field("outer"), nullptr);
}
