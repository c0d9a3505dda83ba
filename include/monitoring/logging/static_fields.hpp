#pragma once

// Static call sites: a log call whose message and keys are fixed at compile time.
//
//   logger.info<"Processing payment">(field<"payment_id">(id), field<"amount">(amount));
//
// writes the same record as
//
//   logger.info("Processing payment", {{"payment_id", id}, {"amount", amount}});
//
// but queues only the values: the message and the keys live once, in a constant for the call
// site, and the record points to it. A record of four short fields is 80 bytes instead of
// 168, one or two cache lines of the thread's queue instead of three; that is most of what a
// log call costs (quill and spdlog's compile-time format strings do the same).
//
// The constant belongs to the binary that makes the call: a shared library that logs this way
// must not be unloaded (dlclose) before logging::flush() returned.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "monitoring/context.hpp"

namespace monitoring::logging {

/// A string fixed at compile time and usable as a template argument: the message and the
/// keys of a static call site.
template <std::size_t N>
struct Literal {
  char text[N];
  consteval Literal(const char (&source)[N]) {  // NOLINT: implicit from a string literal
    for (std::size_t i = 0; i < N; ++i) text[i] = source[i];
  }
  constexpr std::string_view view() const noexcept { return {text, N - 1}; }
};

namespace detail {

/// What a value of a static field is passed as: the types FieldValue takes, widened.
template <class T>
struct StaticValue {
  static_assert(!std::is_same_v<T, T>,
                "field<\"key\">(value): the value must be a bool, a number, a string or nullptr");
};
template <>
struct StaticValue<bool> {
  using type = bool;
};
template <std::signed_integral T>
requires(!std::same_as<T, char>) struct StaticValue<T> {
  using type = std::int64_t;
};
template <std::unsigned_integral T>
requires(!std::same_as<T, bool>) struct StaticValue<T> {
  using type = std::uint64_t;
};
template <std::floating_point T>
struct StaticValue<T> {
  using type = double;
};
template <>
struct StaticValue<std::nullptr_t> {
  using type = std::nullptr_t;
};
template <class T>
requires(std::is_convertible_v<const T&, std::string_view> &&
         !std::is_convertible_v<const T&, const char*>) struct StaticValue<T> {
  using type = std::string_view;
};
template <class T>
requires std::is_convertible_v<const T&, const char*>
struct StaticValue<T> {
  using type = const char*;  // a null pointer is the null value, as in FieldValue
};

template <class T>
constexpr FieldValue::Type static_type() noexcept {
  if constexpr (std::is_same_v<T, bool>)
    return FieldValue::Type::kBool;
  else if constexpr (std::is_same_v<T, std::int64_t>)
    return FieldValue::Type::kInt;
  else if constexpr (std::is_same_v<T, std::uint64_t>)
    return FieldValue::Type::kUint;
  else if constexpr (std::is_same_v<T, double>)
    return FieldValue::Type::kDouble;
  else if constexpr (std::is_same_v<T, std::nullptr_t>)
    return FieldValue::Type::kNull;
  else
    return FieldValue::Type::kString;
}

}  // namespace detail

/// A field of a static call: its key is part of the call site, only its value is queued.
/// Made by field<"key">(value).
template <Literal Key, class T>
struct StaticField {
  static constexpr std::string_view key = Key.view();
  static constexpr FieldValue::Type type = detail::static_type<T>();
  T value;
};

/// field<"payment_id">(id): a field of a static log call (see StructuredLogger::info<>).
/// A string value is copied by the call, like the other fields' strings.
template <Literal Key, class T>
constexpr StaticField<Key, typename detail::StaticValue<std::decay_t<T>>::type> field(
    const T& value) noexcept {
  return {value};
}

namespace detail {

template <class F>
inline constexpr bool kIsStaticField = false;
template <Literal Key, class T>
inline constexpr bool kIsStaticField<StaticField<Key, T>> = true;

/// What a static call site's records point to: the message, and the key and type of each
/// value in the order the values follow the record's header.
struct StaticSite {
  std::string_view message;
  const std::string_view* keys;
  const FieldValue::Type* types;  // a value of another type makes the call a regular one
  std::uint32_t count;
};

/// One constant per message and list of fields: its address is what the records carry.
template <Literal Message, class... Fields>
struct StaticSiteOf {
  static constexpr std::string_view keys[sizeof...(Fields) + 1] = {Fields::key..., {}};
  static constexpr FieldValue::Type types[sizeof...(Fields) + 1] = {Fields::type...,
                                                                    FieldValue::Type::kNull};
  static constexpr StaticSite site{Message.view(), keys, types, sizeof...(Fields)};
};

}  // namespace detail
}  // namespace monitoring::logging
