#pragma once

// The request context shared by logs, Sentry events and traces: who the user is, which
// request is being served, which trace/span is active, plus free-form fields.
//
// The context of a thread is an immutable snapshot; scopes (`ContextScope`) install a new
// snapshot derived from the current one and restore the previous one when they end, so
// scopes nest and unwind with the C++ scopes that hold them. Work handed to another thread
// or to an Asio handler carries the context explicitly: take `context::current()` and
// install it there with a ContextScope, or wrap the callable with `context::bind`. A coroutine
// that holds a scope across `co_await` must run as a task (`monitoring::spawn`), which gives
// it a context of its own that follows it from thread to thread.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "monitoring/detail/trace_state.hpp"

namespace monitoring {

/// A borrowed field value: null, bool, signed or unsigned integer, double or string.
///
/// It never owns memory, so building one costs nothing and a log call with fields does no
/// allocation. Strings must outlive the call that receives the value (string literals,
/// `std::string` locals and temporaries of the same full expression all do).
class FieldValue {
 public:
  enum class Type : std::uint8_t { kNull, kBool, kInt, kUint, kDouble, kString };

  constexpr FieldValue() noexcept : type_(Type::kNull), int_(0) {}
  constexpr FieldValue(std::nullptr_t) noexcept : FieldValue() {}
  template <class T>
  requires std::same_as<T, bool>
  constexpr FieldValue(T flag) noexcept : type_(Type::kBool), uint_(flag ? 1 : 0) {}
  template <std::signed_integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) constexpr FieldValue(T number) noexcept
      : type_(Type::kInt), int_(number) {}
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) constexpr FieldValue(T number) noexcept
      : type_(Type::kUint), uint_(number) {}
  template <std::floating_point T>
  constexpr FieldValue(T number) noexcept
      : type_(Type::kDouble), double_(static_cast<double>(number)) {}
  constexpr FieldValue(std::string_view text) noexcept
      : type_(Type::kString), string_{text.data(), text.size()} {}
  /// A null pointer is the null value, not a crash.
  constexpr FieldValue(const char* text) noexcept
      : FieldValue(text ? FieldValue(std::string_view(text)) : FieldValue()) {}
  FieldValue(const std::string& text) noexcept : FieldValue(std::string_view(text)) {}
  /// A single `char` is ambiguous (character or number?); convert it explicitly.
  FieldValue(char) = delete;

  constexpr Type type() const noexcept { return type_; }
  constexpr bool is_null() const noexcept { return type_ == Type::kNull; }
  constexpr bool as_bool() const noexcept { return uint_ != 0; }
  constexpr std::int64_t as_int() const noexcept { return int_; }
  constexpr std::uint64_t as_uint() const noexcept { return uint_; }
  constexpr double as_double() const noexcept { return double_; }
  constexpr std::string_view as_string() const noexcept { return {string_.data, string_.size}; }
  /// The 8 bytes of a bool (0 or 1), integer or double, for binary encoders (the log queue)
  /// that copy any scalar without a switch. Meaningless for strings and null.
  std::uint64_t scalar_bits() const noexcept {
    std::uint64_t bits;
    std::memcpy(&bits, &uint_, sizeof bits);
    return bits;
  }

 private:
  struct Text {
    const char* data;
    std::size_t size;
  };
  Type type_;
  union {  // a bool is stored in uint_ as 0 or 1, so every scalar fills all 8 bytes
    std::int64_t int_;
    std::uint64_t uint_;
    double double_;
    Text string_;
  };
};

/// A named field of a log record or a context: `{"payment_id", 123}`. Borrowed like FieldValue.
struct Field {
  std::string_view key;
  FieldValue value;
};

/// A field value that owns its string (what contexts store).
class OwnedValue {
 public:
  OwnedValue() = default;
  explicit OwnedValue(const FieldValue& value);

  FieldValue view() const noexcept;
  FieldValue::Type type() const noexcept { return type_; }

 private:
  FieldValue::Type type_ = FieldValue::Type::kNull;
  std::uint64_t bits_ = 0;  // bool / int64 / uint64 / double, by type_
  std::string text_;
};

/// A named owned field.
struct OwnedField {
  std::string key;
  OwnedValue value;
};

namespace detail {

/// One immutable state of a thread's context. Scopes create new ones; nothing mutates one
/// after it is published, so any thread may read a snapshot without locks.
struct ContextData {
  std::uint64_t serial = 0;  ///< process-unique, changes with every new state
  bool has_user = false;
  std::string user_id;
  std::string user_name;
  std::string request_id;
  std::string trace_id;
  std::string span_id;
  std::vector<OwnedField> fields;  ///< later entries win over earlier ones with the same key
};

// The calling thread's current context (nullptr = empty). constinit: read without a TLS
// wrapper call; initial-exec: a plain %fs-relative load even in -fPIC code (instead of a
// __tls_get_addr call), which keeps the log hot path short. A thread-local shared_ptr in
// context.cpp owns what it points to.
[[gnu::tls_model("initial-exec")]] extern thread_local constinit const ContextData* tls_context;

}  // namespace detail

/// An immutable, cheaply copyable view of a context (a reference-counted pointer).
/// Safe to pass to other threads; empty when no scope was active.
class ContextSnapshot {
 public:
  ContextSnapshot() noexcept = default;
  explicit ContextSnapshot(std::shared_ptr<const detail::ContextData> data) noexcept
      : data_(std::move(data)) {}

  bool empty() const noexcept { return data_ == nullptr; }
  bool has_user() const noexcept { return data_ && data_->has_user; }
  std::string_view user_id() const noexcept {
    return data_ ? std::string_view(data_->user_id) : std::string_view();
  }
  std::string_view user_name() const noexcept {
    return data_ ? std::string_view(data_->user_name) : std::string_view();
  }
  std::string_view request_id() const noexcept {
    return data_ ? std::string_view(data_->request_id) : std::string_view();
  }
  std::string_view trace_id() const noexcept {
    return data_ ? std::string_view(data_->trace_id) : std::string_view();
  }
  std::string_view span_id() const noexcept {
    return data_ ? std::string_view(data_->span_id) : std::string_view();
  }
  /// Extra fields, oldest first; a later entry overrides an earlier one with the same key.
  std::span<const OwnedField> fields() const noexcept {
    return data_ ? std::span<const OwnedField>(data_->fields) : std::span<const OwnedField>();
  }
  /// The value of an extra field (the last one with this key), or nullptr.
  const OwnedValue* field(std::string_view key) const noexcept;

  const std::shared_ptr<const detail::ContextData>& data() const noexcept { return data_; }

 private:
  std::shared_ptr<const detail::ContextData> data_;
};

/// Installs a context on the calling thread for its lifetime and restores the previous one
/// when it ends (RAII; movable, not copyable).
///
/// Scopes nest: end them in reverse order of creation, which automatic variables do. A scope
/// belongs to the thread that created it; if it ends on another thread (moved there) it
/// restores nothing, so a wandering scope cannot corrupt a foreign thread's context. Inside a
/// task (a coroutine run by `monitoring::spawn`, <monitoring/monitor/coroutine.hpp>) it
/// belongs to the task instead, and ends correctly on whichever thread the task resumed.
class [[nodiscard]] ContextScope {
 public:
  ContextScope() noexcept = default;
  /// Makes `snapshot` the calling thread's context (carries a context to another thread).
  explicit ContextScope(ContextSnapshot snapshot);
  ContextScope(ContextScope&& other) noexcept;
  ContextScope& operator=(ContextScope&& other) noexcept;
  ContextScope(const ContextScope&) = delete;
  ContextScope& operator=(const ContextScope&) = delete;
  ~ContextScope() { restore(); }

  /// Ends the scope early (idempotent).
  void restore() noexcept;
  bool active() const noexcept { return owner_ != nullptr; }

 private:
  std::shared_ptr<const detail::ContextData> previous_;
  const void* owner_ = nullptr;  // the creating thread's or task's identity; null = ended
};

namespace context {

/// The calling thread's context.
ContextSnapshot current();

/// A scope that adds a user (ECS `user.id`, `user.name`) to the current context.
ContextScope with_user(std::string_view user_id, std::string_view user_name = {});
ContextScope with_user(std::int64_t user_id, std::string_view user_name = {});
/// A scope with a request id; an empty id means a new random UUIDv4.
ContextScope with_request_id(std::string_view request_id = {});
/// A scope with the active trace and span (hex ids, as Sentry and W3C use them).
ContextScope with_trace(std::string_view trace_id, std::string_view span_id = {});
/// A scope with extra fields (override earlier fields with the same key).
ContextScope with_fields(std::span<const Field> fields);
inline ContextScope with_fields(std::initializer_list<Field> fields) {
  return with_fields(std::span<const Field>(fields.begin(), fields.size()));
}
/// Installs `snapshot` (same as `ContextScope(snapshot)`).
inline ContextScope attach(ContextSnapshot snapshot) {
  return ContextScope(std::move(snapshot));
}

/// A new random UUIDv4 in canonical text form (36 characters).
std::string new_request_id();

/// Wraps `fn` so that every call runs with the context current *now* (the caller's), e.g.
/// `boost::asio::post(pool, context::bind([&] { logger.info("on the pool"); }));`.
/// Associated executors/allocators of an Asio handler are not forwarded: bind the executor
/// outside (`asio::bind_executor(strand, context::bind(handler))`).
template <class Fn>
auto bind(Fn&& fn) {
  return
      [snapshot = current(), fn = std::forward<Fn>(fn)](auto&&... args) mutable -> decltype(auto) {
        ContextScope scope(snapshot);
        return fn(std::forward<decltype(args)>(args)...);
      };
}

}  // namespace context
}  // namespace monitoring
