#include "monitoring/context.hpp"

#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <future>
#include <set>
#include <string>
#include <thread>

namespace {

namespace context = monitoring::context;
using monitoring::ContextScope;
using monitoring::ContextSnapshot;

bool looks_like_uuid_v4(const std::string& id) {
  if (id.size() != 36) return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (id[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(id[i])) ||
               std::isupper(static_cast<unsigned char>(id[i]))) {
      return false;
    }
  }
  return id[14] == '4' && (id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b');
}

TEST(Context, EmptyByDefault) {
  const ContextSnapshot snapshot = context::current();
  EXPECT_TRUE(snapshot.empty());
  EXPECT_FALSE(snapshot.has_user());
  EXPECT_EQ(snapshot.request_id(), "");
  EXPECT_TRUE(snapshot.fields().empty());
}

TEST(Context, ScopesNestAndRestore) {
  {
    auto user = context::with_user(123, "john");
    EXPECT_TRUE(context::current().has_user());
    EXPECT_EQ(context::current().user_id(), "123");
    EXPECT_EQ(context::current().user_name(), "john");
    {
      auto request = context::with_request_id("req-1");
      EXPECT_EQ(context::current().request_id(), "req-1");
      EXPECT_EQ(context::current().user_id(), "123");  // inherited
      {
        auto other_user = context::with_user("u-9");
        EXPECT_EQ(context::current().user_id(), "u-9");
        EXPECT_EQ(context::current().user_name(), "");
        EXPECT_EQ(context::current().request_id(), "req-1");
      }
      EXPECT_EQ(context::current().user_id(), "123");
      EXPECT_EQ(context::current().user_name(), "john");
    }
    EXPECT_EQ(context::current().request_id(), "");
  }
  EXPECT_TRUE(context::current().empty());
}

TEST(Context, RequestIdsAreFreshUuids) {
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    auto scope = context::with_request_id();
    const std::string id(context::current().request_id());
    EXPECT_TRUE(looks_like_uuid_v4(id)) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 100u);
}

TEST(Context, TraceAndFields) {
  auto trace = context::with_trace("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
  auto fields = context::with_fields({{"tenant", "acme"}, {"attempt", 2}});
  auto more =
      context::with_fields({{"attempt", 3}, {"ratio", 0.5}, {"flag", true}, {"none", nullptr}});
  const ContextSnapshot snapshot = context::current();
  EXPECT_EQ(snapshot.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(snapshot.span_id(), "00f067aa0ba902b7");
  ASSERT_EQ(snapshot.fields().size(), 5u);  // "attempt" replaced in place
  EXPECT_EQ(snapshot.field("tenant")->view().as_string(), "acme");
  EXPECT_EQ(snapshot.field("attempt")->view().as_int(), 3);
  EXPECT_EQ(snapshot.field("ratio")->view().as_double(), 0.5);
  EXPECT_TRUE(snapshot.field("flag")->view().as_bool());
  EXPECT_TRUE(snapshot.field("none")->view().is_null());
  EXPECT_EQ(snapshot.field("missing"), nullptr);
}

TEST(Context, SnapshotIsImmutable) {
  auto user = context::with_user(1, "a");
  const ContextSnapshot before = context::current();
  {
    auto other = context::with_user(2, "b");
    EXPECT_EQ(before.user_id(), "1");  // a new scope never changes an existing snapshot
  }
  EXPECT_EQ(before.user_id(), "1");
}

TEST(Context, EndingEarlyAndMoving) {
  ContextScope outer = context::with_request_id("outer");
  ContextScope moved = std::move(outer);
  EXPECT_FALSE(outer.active());
  EXPECT_TRUE(moved.active());
  EXPECT_EQ(context::current().request_id(), "outer");
  moved.restore();
  moved.restore();  // idempotent
  EXPECT_TRUE(context::current().empty());
}

TEST(Context, AttachingAnEmptySnapshotClearsTemporarily) {
  auto user = context::with_user(5);
  {
    ContextScope cleared{ContextSnapshot()};
    EXPECT_TRUE(context::current().empty());
  }
  EXPECT_EQ(context::current().user_id(), "5");
}

TEST(Context, FieldValueTypes) {
  using monitoring::FieldValue;
  EXPECT_EQ(FieldValue().type(), FieldValue::Type::kNull);
  EXPECT_EQ(FieldValue(nullptr).type(), FieldValue::Type::kNull);
  EXPECT_EQ(FieldValue(static_cast<const char*>(nullptr)).type(), FieldValue::Type::kNull);
  EXPECT_EQ(FieldValue(true).type(), FieldValue::Type::kBool);
  EXPECT_EQ(FieldValue(42).type(), FieldValue::Type::kInt);
  EXPECT_EQ(FieldValue(-42L).as_int(), -42);
  EXPECT_EQ(FieldValue(42u).type(), FieldValue::Type::kUint);
  EXPECT_EQ(FieldValue(std::uint64_t{1} << 63).as_uint(), std::uint64_t{1} << 63);
  EXPECT_EQ(FieldValue(1.5f).as_double(), 1.5);
  EXPECT_EQ(FieldValue("text").as_string(), "text");
  const std::string owned = "owned";
  EXPECT_EQ(FieldValue(owned).as_string(), "owned");
  EXPECT_EQ(FieldValue(std::string_view("view")).type(), FieldValue::Type::kString);
}

TEST(ContextConcurrency, SnapshotCarriedToAnotherThread) {
  auto user = context::with_user(77, "alice");
  auto request = context::with_request_id("req-77");
  const ContextSnapshot snapshot = context::current();
  std::string seen_before, seen_user, seen_request, seen_after;
  std::thread worker([&] {
    seen_before = std::string(context::current().user_id());  // threads start empty
    {
      ContextScope scope(snapshot);
      seen_user = std::string(context::current().user_id());
      seen_request = std::string(context::current().request_id());
    }
    seen_after = std::string(context::current().user_id());
  });
  worker.join();
  EXPECT_EQ(seen_before, "");
  EXPECT_EQ(seen_user, "77");
  EXPECT_EQ(seen_request, "req-77");
  EXPECT_EQ(seen_after, "");
}

TEST(ContextConcurrency, BindCarriesContextIntoAsioHandlers) {
  boost::asio::thread_pool pool(2);
  std::vector<std::future<std::string>> results;
  for (int i = 0; i < 20; ++i) {
    auto scope = context::with_request_id("req-" + std::to_string(i));
    auto promise = std::make_shared<std::promise<std::string>>();
    results.push_back(promise->get_future());
    boost::asio::post(pool, context::bind([promise] {
                        promise->set_value(std::string(context::current().request_id()));
                      }));
  }
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(results[static_cast<std::size_t>(i)].get(), "req-" + std::to_string(i));
  pool.join();
}

TEST(ContextConcurrency, BoundCallablesForwardArgumentsAndResults) {
  auto scope = context::with_user(9);
  auto bound = context::bind([](int a, int b) {
    return std::string(context::current().user_id()) + ":" + std::to_string(a + b);
  });
  std::string result;
  std::thread([&] { result = bound(2, 3); }).join();
  EXPECT_EQ(result, "9:5");
}

TEST(ContextConcurrency, ThreadsHaveIndependentScopes) {
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &mismatches] {
      for (int i = 0; i < 500; ++i) {
        auto user = context::with_user(t * 1000 + i);
        if (context::current().user_id() != std::to_string(t * 1000 + i)) ++mismatches;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(ContextConcurrency, ScopeEndingOnAnotherThreadLeavesThatThreadAlone) {
  auto mine = context::with_request_id("main");
  auto wandering = std::make_unique<ContextScope>(context::with_user(1));
  std::thread([&] {
    auto theirs = context::with_request_id("worker");
    wandering.reset();  // created on the main thread: restores nothing here
    EXPECT_EQ(context::current().request_id(), "worker");
  }).join();
  EXPECT_EQ(context::current().request_id(), "main");
}

}  // namespace
