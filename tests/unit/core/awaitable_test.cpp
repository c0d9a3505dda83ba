#include "monitoring/core/awaitable.hpp"

// clang-format off
#include <utility>  // first: Boost 1.74's awaitable.hpp uses std::exchange without including it
// clang-format on

#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

namespace {

using monitoring::core::is_awaitable;
using monitoring::core::is_awaitable_v;

// The forward declaration in core/awaitable.hpp must name the very template Boost defines:
// a mismatch would not compile here, or would make these false.
static_assert(is_awaitable_v<boost::asio::awaitable<int>>);
static_assert(is_awaitable_v<const boost::asio::awaitable<void>&>);
static_assert(is_awaitable_v<boost::asio::awaitable<int, boost::asio::io_context::executor_type>>);
static_assert(std::is_same_v<is_awaitable<boost::asio::awaitable<double>>::value_type, double>);
static_assert(!is_awaitable_v<int>);
static_assert(!is_awaitable_v<void>);

TEST(Awaitable, TraitRecognizesBoostAwaitablesOnly) {
  EXPECT_TRUE(is_awaitable_v<boost::asio::awaitable<int>>);
  EXPECT_FALSE(is_awaitable_v<int*>);
}

}  // namespace
