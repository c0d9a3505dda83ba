#include "monitoring/context.hpp"

#include <atomic>
#include <bit>
#include <charconv>
#include <random>

#include "monitoring/core/task_local.hpp"

namespace monitoring {

namespace detail {
[[gnu::tls_model("initial-exec")]] thread_local constinit const ContextData* tls_context = nullptr;
[[gnu::tls_model("initial-exec")]] thread_local constinit const ContextData* tls_trace = nullptr;
}  // namespace detail

namespace {

// Owns the thread's current context; `detail::tls_context` (and `detail::tls_trace` while a
// trace is active) mirror `.data.get()` for the hot paths. Only scope creation/destruction and
// current() touch it. At thread exit the mirrors are cleared with it, so a metric updated or a
// line logged from a later thread-local destructor sees no context instead of a freed one.
struct ContextOwner {
  std::shared_ptr<const detail::ContextData> data;
  ~ContextOwner() {
    detail::tls_context = nullptr;
    detail::tls_trace = nullptr;
  }
};
thread_local ContextOwner tls_owner;

std::atomic<std::uint64_t> next_serial{1};

void set_current(std::shared_ptr<const detail::ContextData> data) {
  // The mirrors move to the new state before the old one can be freed: a fatal-signal
  // handler on this thread (Sentry's crash record) reads tls_context at any instruction.
  const detail::ContextData* next = data.get();
  detail::tls_context = next;
  detail::tls_trace = next && !next->trace_id.empty() ? next : nullptr;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  tls_owner.data = std::move(data);
}

// A task's parked context (see core/task_local.hpp).
using TaskContext = std::shared_ptr<const detail::ContextData>;

void* inherit_task_context() {
  return new TaskContext(tls_owner.data);
}

void exchange_task_context(void* storage) noexcept {
  auto& task = *static_cast<TaskContext*>(storage);
  // As in set_current: the mirrors move first, and both states stay alive throughout.
  const detail::ContextData* next = task.get();
  detail::tls_context = next;
  detail::tls_trace = next && !next->trace_id.empty() ? next : nullptr;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  tls_owner.data.swap(task);
}

void destroy_task_context(void* storage) noexcept {
  delete static_cast<TaskContext*>(storage);
}

[[maybe_unused]] const bool g_task_context_registered = [] {
  core::register_task_local({&inherit_task_context, &exchange_task_context, &destroy_task_context});
  return true;
}();

// A new state derived from the calling thread's current one.
std::shared_ptr<detail::ContextData> derive() {
  auto data = detail::tls_context ? std::make_shared<detail::ContextData>(*detail::tls_context)
                                  : std::make_shared<detail::ContextData>();
  data->serial = next_serial.fetch_add(1, std::memory_order_relaxed);
  return data;
}

}  // namespace

OwnedValue::OwnedValue(const FieldValue& value) : type_(value.type()) {
  switch (type_) {
    case FieldValue::Type::kNull:
      break;
    case FieldValue::Type::kBool:
      bits_ = value.as_bool() ? 1 : 0;
      break;
    case FieldValue::Type::kInt:
      bits_ = static_cast<std::uint64_t>(value.as_int());
      break;
    case FieldValue::Type::kUint:
      bits_ = value.as_uint();
      break;
    case FieldValue::Type::kDouble:
      bits_ = std::bit_cast<std::uint64_t>(value.as_double());
      break;
    case FieldValue::Type::kString:
      text_.assign(value.as_string());
      break;
  }
}

FieldValue OwnedValue::view() const noexcept {
  switch (type_) {
    case FieldValue::Type::kNull:
      return FieldValue();
    case FieldValue::Type::kBool:
      return FieldValue(bits_ != 0);
    case FieldValue::Type::kInt:
      return FieldValue(static_cast<std::int64_t>(bits_));
    case FieldValue::Type::kUint:
      return FieldValue(bits_);
    case FieldValue::Type::kDouble:
      return FieldValue(std::bit_cast<double>(bits_));
    case FieldValue::Type::kString:
      return FieldValue(std::string_view(text_));
  }
  return FieldValue();
}

const OwnedValue* ContextSnapshot::field(std::string_view key) const noexcept {
  if (!data_) return nullptr;
  for (auto it = data_->fields.rbegin(); it != data_->fields.rend(); ++it)
    if (it->key == key) return &it->value;
  return nullptr;
}

ContextScope::ContextScope(ContextSnapshot snapshot)
    : previous_(tls_owner.data), owner_(core::scope_owner()) {
  set_current(snapshot.data());
}

ContextScope::ContextScope(ContextScope&& other) noexcept
    : previous_(std::move(other.previous_)), owner_(std::exchange(other.owner_, nullptr)) {}

ContextScope& ContextScope::operator=(ContextScope&& other) noexcept {
  if (this != &other) {
    restore();
    previous_ = std::move(other.previous_);
    owner_ = std::exchange(other.owner_, nullptr);
  }
  return *this;
}

void ContextScope::restore() noexcept {
  if (owner_ == nullptr) return;
  // Only the creating thread's (or task's) context is ours to restore (see the class comment).
  if (owner_ == core::scope_owner()) set_current(std::move(previous_));
  previous_.reset();
  owner_ = nullptr;
}

namespace context {

ContextSnapshot current() {
  return ContextSnapshot(tls_owner.data);
}

ContextScope with_user(std::string_view user_id, std::string_view user_name) {
  auto data = derive();
  data->has_user = true;
  data->user_id.assign(user_id);
  data->user_name.assign(user_name);
  return ContextScope(ContextSnapshot(std::move(data)));
}

ContextScope with_user(std::int64_t user_id, std::string_view user_name) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, user_id).ptr;
  return with_user(std::string_view(digits, static_cast<std::size_t>(end - digits)), user_name);
}

ContextScope with_request_id(std::string_view request_id) {
  auto data = derive();
  if (request_id.empty())
    data->request_id = new_request_id();
  else
    data->request_id.assign(request_id);
  return ContextScope(ContextSnapshot(std::move(data)));
}

ContextScope with_trace(std::string_view trace_id, std::string_view span_id) {
  auto data = derive();
  data->trace_id.assign(trace_id);
  data->span_id.assign(span_id);
  return ContextScope(ContextSnapshot(std::move(data)));
}

ContextScope with_fields(std::span<const Field> fields) {
  auto data = derive();
  for (const Field& field : fields) {
    // Replace in place so the list stays short however often a key is re-set.
    bool replaced = false;
    for (OwnedField& existing : data->fields) {
      if (existing.key == field.key) {
        existing.value = OwnedValue(field.value);
        replaced = true;
        break;
      }
    }
    if (!replaced)
      data->fields.push_back(OwnedField{std::string(field.key), OwnedValue(field.value)});
  }
  return ContextScope(ContextSnapshot(std::move(data)));
}

std::string new_request_id() {
  // One generator per thread, seeded from the OS: ids are unpredictable and the call takes
  // no lock. (UUIDv4 needs uniqueness, not cryptographic strength.)
  thread_local std::mt19937_64 engine = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  std::uint64_t high = engine();
  std::uint64_t low = engine();
  high = (high & ~0xF000ull) | 0x4000ull;                       // version 4
  low = (low & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(36, '-');
  int bit = 60;
  for (std::size_t i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) continue;
    const std::uint64_t word = i < 19 ? high : low;
    id[i] = kHex[(word >> bit) & 0xF];
    bit -= 4;
    if (bit < 0) bit = 60;
  }
  return id;
}

}  // namespace context
}  // namespace monitoring
