#pragma once

// Recognizes boost::asio::awaitable<T> without including Boost: the wrappers that accept
// coroutines (catalog timers, Sentry's error_handler and spans, health checks) branch on it,
// and headers that only need the test (<monitoring/metrics.hpp>) stay free of Boost.Asio.
// A callable that returns an awaitable was compiled with the full Boost type, so every
// instantiation that uses more than the name has it.

#include <type_traits>

namespace boost::asio {
// Boost 1.74 declares `template <typename T, typename Executor = any_io_executor> class
// awaitable;` — this redeclaration matches it (tests/unit/core/awaitable_test.cpp checks).
template <typename T, typename Executor>
class awaitable;
}  // namespace boost::asio

namespace monitoring::core {

/// True for boost::asio::awaitable<T, Executor>; `value_type` is then T.
template <class T>
struct is_awaitable : std::false_type {};
template <class T, class E>
struct is_awaitable<boost::asio::awaitable<T, E>> : std::true_type {
  using value_type = T;
};
template <class T>
inline constexpr bool is_awaitable_v = is_awaitable<std::remove_cvref_t<T>>::value;

}  // namespace monitoring::core
