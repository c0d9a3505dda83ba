// StructuredLogger: the log call (the hot path) and the logger registry.

#include "monitoring/logging/logger.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <charconv>
#include <cstddef>
#include <mutex>
#include <new>
#include <optional>
#include <typeinfo>
#include <unordered_map>

#include "clock.hpp"
#include "monitoring/logging/error_counter.hpp"
#include "monitoring/logging/levels.hpp"
#include "monitoring/logging/observer.hpp"
#include "record.hpp"
#include "runtime.hpp"
#include "stacktrace/stack_trace.hpp"
#include "stacktrace/throw_site.hpp"

namespace monitoring::logging {
namespace detail {

/// The library's side of a logger: name, current state, registry links.
/// Aligned so that the levels the call checks and `state` share one cache line.
struct alignas(kCacheLine) LoggerCoreImpl : LoggerCore {
  std::string name;
  std::atomic<const LoggerState*> state{nullptr};
  std::mutex update_mutex;  // serializes add_context
  LoggerCoreImpl* previous = nullptr;
  LoggerCoreImpl* next = nullptr;
};

namespace {

// Moved-from loggers point here: level off, so every call returns at the inline check.
constinit LoggerCore g_disabled_core{Level::kOff};
const std::string g_empty_name;

struct LoggerRegistry {
  std::mutex mutex;
  LoggerCoreImpl* head = nullptr;
  Level level = Level::kInfo;
  ModuleLevels modules;
  bool backtrace = false;  // LOG_BACKTRACE > 0: records below a logger's level are kept
};

LoggerRegistry& logger_registry() {
  // Leaked on purpose: loggers with static storage duration are destroyed during exit.
  static LoggerRegistry* registry = new LoggerRegistry();
  return *registry;
}

// The exact name or the longest dotted prefix ("payment" covers "payment.yookassa").
Level level_for(const LoggerRegistry& registry, std::string_view name) {
  std::string_view probe = name;
  while (true) {
    if (auto found = registry.modules.find(probe); found != registry.modules.end())
      return found->second;
    const std::size_t dot = probe.rfind('.');
    if (dot == std::string_view::npos) return registry.level;
    probe = probe.substr(0, dot);
  }
}

// Publishes a logger's level. With a backtrace every record from DEBUG up enters the queue
// and the ones below the level are flagged as kept; an OFF logger stays silent.
void set_core_level(const LoggerRegistry& registry, LoggerCoreImpl& core) {
  const Level level = level_for(registry, core.name);
  core.write_level.store(level, std::memory_order_relaxed);
  core.min_level.store(registry.backtrace && level < Level::kOff ? Level::kDebug : level,
                       std::memory_order_relaxed);
}

LoggerCoreImpl* create_core(std::string_view name, const LoggerState* template_state) {
  auto core = std::make_unique<LoggerCoreImpl>();
  core->name.assign(name);
  auto state = std::make_unique<LoggerState>();
  if (template_state != nullptr) {
    state->name = template_state->name;
    state->fields = template_state->fields;
    state->service_name = template_state->service_name;
    state->service_version = template_state->service_version;
    state->service_environment = template_state->service_environment;
  } else {
    state->name.assign(name);
  }
  core->state.store(state.release(), std::memory_order_release);
  LoggerRegistry& registry = logger_registry();
  std::lock_guard lock(registry.mutex);
  set_core_level(registry, *core);
  core->next = registry.head;
  if (registry.head != nullptr) registry.head->previous = core.get();
  registry.head = core.get();
  return core.release();
}

void destroy_core(LoggerCore* base) noexcept {
  if (base == &g_disabled_core) return;
  auto* core = static_cast<LoggerCoreImpl*>(base);
  {
    LoggerRegistry& registry = logger_registry();
    std::lock_guard lock(registry.mutex);
    if (core->previous != nullptr)
      core->previous->next = core->next;
    else
      registry.head = core->next;
    if (core->next != nullptr) core->next->previous = core->previous;
  }
  retire_logger_states(core->state.load(std::memory_order_acquire));
  delete core;
}

std::string field_text(const FieldValue& value) {
  char buffer[32];
  switch (value.type()) {
    case FieldValue::Type::kNull:
      return {};
    case FieldValue::Type::kBool:
      return value.as_bool() ? "true" : "false";
    case FieldValue::Type::kInt:
      return std::string(buffer, std::to_chars(buffer, buffer + sizeof buffer, value.as_int()).ptr);
    case FieldValue::Type::kUint:
      return std::string(buffer,
                         std::to_chars(buffer, buffer + sizeof buffer, value.as_uint()).ptr);
    case FieldValue::Type::kDouble:
      return std::string(buffer,
                         std::to_chars(buffer, buffer + sizeof buffer, value.as_double()).ptr);
    case FieldValue::Type::kString:
      return std::string(value.as_string());
  }
  return {};
}

// Sends the thread's current context through the queue (only when it changed since the
// last record, so the steady-state cost is one comparison).
bool send_context(ProducerQueue& queue, std::uint64_t serial) noexcept {
  constexpr auto kSize = static_cast<std::uint32_t>(sizeof(ContextRecord));
  static_assert(kSize % 8 == 0);
  std::byte* slot = queue.ring.try_reserve(kSize);
  if (slot == nullptr) slot = reserve_slow(queue, kSize);
  if (slot == nullptr) return false;
  ContextSnapshot snapshot = context::current();  // the owner of tls_context (same serial)
  new (slot) ContextRecord{ChunkHeader{kSize, kKindContext, 0, 0, 0}, snapshot.data()};
  queue.ring.commit(kSize);
  queue.last_context_serial() = serial;
  return true;
}

inline std::uint32_t stored_size(std::size_t size, std::uint32_t cap) {
  return static_cast<std::uint32_t>(std::min<std::size_t>(size, cap));
}
inline std::uint32_t saturate32(std::size_t size) {
  return static_cast<std::uint32_t>(std::min<std::size_t>(size, UINT32_MAX));
}

// Bytes of everything but the strings' contents.
std::size_t fixed_size(const Field* fields, std::size_t count, const ErrorCapture* error) {
  std::size_t size = sizeof(LogHeader);
  for (std::size_t i = 0; i < count; ++i) {
    size += sizeof(FieldHeader) + std::min<std::size_t>(fields[i].key.size(), kMaxKeyBytes);
    const auto type = fields[i].value.type();
    if (type != FieldValue::Type::kString && type != FieldValue::Type::kNull) size += 8;
  }
  if (error != nullptr) size += sizeof(ErrorHeader) + std::size_t{error->frame_count} * 8;
  return size;
}

// Limits fields so that any record fits in the smallest ring (64 KiB -> 32 KiB per record)
// whatever the caller passes: 64 fields with 256-byte keys take at most ~17.5 KiB.
constexpr std::size_t kMaxFields = 64;
// Extra bytes kept past max_field_bytes so the scrubber still sees a secret that straddles
// the truncation point whole (the backend cuts after scrubbing).
constexpr std::uint32_t kScrubSlack = 256;

// errors_total{error_type, module} for a logged exception: the type demangled once per type
// (exceptions are rare; the map only grows with the program's exception types).
std::atomic<ErrorCounter> g_error_counter{nullptr};
// The lowest level of records the record observer turns into error events; -1: none.
std::atomic<int> g_exception_event_level{-1};

void count_error(const char* mangled_type, std::string_view logger_name) noexcept {
  const ErrorCounter counter = g_error_counter.load(std::memory_order_acquire);
  if (counter == nullptr) return;
  try {
    static std::mutex mutex;
    static auto* names =
        new std::unordered_map<const char*, std::string>();  // leaked: used at exit
    const std::string* type;
    {
      std::lock_guard lock(mutex);
      auto [entry, inserted] = names->try_emplace(mangled_type);
      if (inserted) entry->second = mangled_type != nullptr ? demangle(mangled_type) : "unknown";
      type = &entry->second;  // nodes never move, values never change after insertion
    }
    counter(*type, logger_name.empty() ? "unknown" : logger_name);
  } catch (...) {  // counting must never turn a logged error into a crash
  }
}

// Records up to this size take the one-pass path: the caller reserves this much, encodes
// while it measures, and commits only what it used. Typical records are 100-300 bytes; the
// space skipped when a reservation does not fit before the ring's end is under 2 % of the
// smallest ring.
constexpr std::uint32_t kOnePassBound = 1024;

// Encodes a record without error info into `out` (kOnePassBound bytes). Returns the bytes
// used (8-aligned), or 0 when the record needs truncation or does not fit: the caller then
// takes the two-pass path, which sizes first.
std::uint32_t encode_one_pass(std::byte* out, Level level, std::uint8_t flags,
                              std::uint64_t timestamp, const LoggerState* state,
                              std::string_view message, const Field* fields, std::size_t count,
                              std::size_t cap) noexcept {
  std::byte* const end = out + kOnePassBound;
  std::byte* p = out + sizeof(LogHeader);
  if (message.size() > cap || message.size() > kOnePassBound - sizeof(LogHeader)) return 0;
  copy_bytes(p, message.data(), message.size());
  p += message.size();
  // Fields whose key and value are under 256 bytes only (longer ones may need truncation:
  // the two-pass path). Every step here is branch-light: this loop is most of the log call.
  for (std::size_t i = 0; i < count; ++i) {
    const Field& field = fields[i];
    const auto type = field.value.type();
    const bool is_string = type == FieldValue::Type::kString;
    const std::size_t key_size = field.key.size();
    const std::size_t value_size =
        is_string ? field.value.as_string().size() : (type != FieldValue::Type::kNull) * 8;
    // +8: the scalar store below happens for every type (strings overwrite it).
    if ((key_size | value_size) > 255 ||
        key_size + value_size + sizeof(FieldHeader) + 8 > static_cast<std::size_t>(end - p))
      return 0;
    static_assert(sizeof(FieldHeader) == 12 && offsetof(FieldHeader, key_size) == 2 &&
                  offsetof(FieldHeader, stored) == 4 && offsetof(FieldHeader, original) == 8);
    const std::uint64_t head = static_cast<std::uint64_t>(type) | (key_size << 16) |
                               (static_cast<std::uint64_t>(value_size) << 32);
    const auto original = static_cast<std::uint32_t>(value_size);
    std::memcpy(p, &head, 8);  // type, key_size, stored
    std::memcpy(p + 8, &original, 4);
    p += sizeof(FieldHeader);
    copy_bytes(p, field.key.data(), key_size);
    p += key_size;
    const std::uint64_t bits = field.value.scalar_bits();  // bool, integers, double: raw bytes
    std::memcpy(p, &bits, 8);
    if (is_string) copy_bytes(p, field.value.as_string().data(), value_size);
    p += value_size;
  }
  const std::uint32_t total = align8(static_cast<std::size_t>(p - out));
  // The header goes straight into the ring as five 8-byte stores: built as a struct on the
  // stack and copied, its 16-byte loads of just-stored bytes stalled on store forwarding
  // (a quarter of the call).
  static_assert(offsetof(LogHeader, timestamp) == 8 && offsetof(LogHeader, logger) == 16 &&
                offsetof(LogHeader, message_stored) == 24 &&
                offsetof(LogHeader, field_count) == 32);
  static_assert(offsetof(ChunkHeader, kind) == 4 && offsetof(ChunkHeader, level) == 5 &&
                offsetof(ChunkHeader, flags) == 6);
  static_assert(std::endian::native == std::endian::little);  // the packing below
  const auto store = [out](std::size_t offset, std::uint64_t word) {
    std::memcpy(out + offset, &word, 8);
  };
  store(0, total | (std::uint64_t{kKindLog} << 32) |
               (std::uint64_t{static_cast<std::uint8_t>(level)} << 40) |
               (std::uint64_t{flags} << 48));
  store(8, timestamp);
  store(16, reinterpret_cast<std::uintptr_t>(state));
  store(24, message.size() | (std::uint64_t{message.size()} << 32));  // stored, original
  store(32, count);                                                   // field_count, reserved
  return total;
}

// A static call site's record (kFlagStatic) into `out` (kOnePassBound bytes): the header
// points to the site, then each value follows: 8 bytes for a scalar, nothing for null, and
// for a string its stored and original sizes (4 bytes each) and its bytes. Returns the bytes
// used, or 0 when the regular path must take it: a string that needs truncating, or more
// than fits.
std::uint32_t encode_static(std::byte* out, Level level, std::uint8_t flags,
                            std::uint64_t timestamp, const LoggerState* state,
                            const StaticSite& site, std::size_t message_size, std::uint32_t count,
                            const FieldValue* values, std::size_t cap) noexcept {
  if (message_size > cap) return 0;
  std::byte* const end = out + kOnePassBound;
  std::byte* p = out + sizeof(LogHeader);
  // The values' types are the site's (the caller sent any other call the regular way), so
  // the site itself is not read here.
  for (std::uint32_t i = 0; i < count; ++i) {
    const FieldValue& value = values[i];
    const FieldValue::Type type = value.type();
    if (type == FieldValue::Type::kString) {
      const std::string_view text = value.as_string();
      if (text.size() > cap || text.size() + 8 > static_cast<std::size_t>(end - p)) return 0;
      const std::uint64_t sizes = text.size() | (std::uint64_t{text.size()} << 32);
      std::memcpy(p, &sizes, 8);
      copy_bytes(p + 8, text.data(), text.size());
      p += 8 + text.size();
    } else if (type != FieldValue::Type::kNull) {
      if (end - p < 8) return 0;
      const std::uint64_t bits = value.scalar_bits();
      std::memcpy(p, &bits, 8);
      p += 8;
    }
  }
  const std::uint32_t total = align8(static_cast<std::size_t>(p - out));
  const auto store = [out](std::size_t offset, std::uint64_t word) {
    std::memcpy(out + offset, &word, 8);
  };
  store(0, total | (std::uint64_t{kKindLog} << 32) |
               (std::uint64_t{static_cast<std::uint8_t>(level)} << 40) |
               (std::uint64_t{static_cast<std::uint8_t>(flags | kFlagStatic)} << 48));
  store(8, timestamp);
  store(16, reinterpret_cast<std::uintptr_t>(state));
  store(24, reinterpret_cast<std::uintptr_t>(&site));  // in place of the message sizes
  store(32, count);
  return total;
}

// The start of every log call: the backend is running, the thread has its queue, and the
// queue has the thread's current context. Null when the record is dropped (counted).
[[gnu::always_inline]] inline ProducerQueue* queue_for_record(std::uint64_t& timestamp) noexcept {
  if (g_run_state.load(std::memory_order_acquire) != RunState::kRunning) [[unlikely]] {
    if (!ensure_running()) {
      count_dropped(DropReason::kShutdown);
      return nullptr;
    }
  }
  timestamp = now_ticks();
  ProducerQueue* queue = tls_queue;
  if (queue == nullptr) [[unlikely]] {
    queue = attach_current_thread();
    if (queue == nullptr) {
      count_dropped(DropReason::kShutdown);
      return nullptr;
    }
  }
  const monitoring::detail::ContextData* context = monitoring::detail::tls_context;
  const std::uint64_t serial = context != nullptr ? context->serial : 0;
  if (serial != queue->last_context_serial()) [[unlikely]] {
    if (!send_context(*queue, serial)) {
      count_dropped(g_run_state.load(std::memory_order_relaxed) == RunState::kRunning
                        ? DropReason::kQueueFull
                        : DropReason::kShutdown);
      return nullptr;
    }
  }
  return queue;
}

}  // namespace
}  // namespace detail

using namespace detail;

StructuredLogger::StructuredLogger(std::string_view name) : core_(create_core(name, nullptr)) {}

StructuredLogger::StructuredLogger(const StructuredLogger& other)
    : core_(other.core_ == &g_disabled_core
                ? &g_disabled_core
                : create_core(other.name(), static_cast<LoggerCoreImpl*>(other.core_)
                                                ->state.load(std::memory_order_acquire))) {}

StructuredLogger& StructuredLogger::operator=(const StructuredLogger& other) {
  if (this != &other) {
    StructuredLogger copy(other);
    *this = std::move(copy);
  }
  return *this;
}

StructuredLogger::StructuredLogger(StructuredLogger&& other) noexcept
    : core_(std::exchange(other.core_, &g_disabled_core)) {}

StructuredLogger& StructuredLogger::operator=(StructuredLogger&& other) noexcept {
  if (this != &other) {
    destroy_core(core_);
    core_ = std::exchange(other.core_, &g_disabled_core);
  }
  return *this;
}

StructuredLogger::~StructuredLogger() {
  destroy_core(core_);
}

const std::string& StructuredLogger::name() const noexcept {
  return core_ == &g_disabled_core ? g_empty_name : static_cast<const LoggerCoreImpl*>(core_)->name;
}

void StructuredLogger::add_context(std::span<const Field> fields) {
  if (core_ == &g_disabled_core) return;
  auto* core = static_cast<LoggerCoreImpl*>(core_);
  std::lock_guard lock(core->update_mutex);
  const LoggerState* current = core->state.load(std::memory_order_relaxed);
  auto next = std::make_unique<LoggerState>();
  next->name = current->name;
  next->fields = current->fields;
  next->service_name = current->service_name;
  next->service_version = current->service_version;
  next->service_environment = current->service_environment;
  for (const Field& field : fields) {
    if (field.key == "service") {
      next->service_name = field_text(field.value);
    } else if (field.key == "version") {
      next->service_version = field_text(field.value);
    } else if (field.key == "environment") {
      next->service_environment = field_text(field.value);
    } else {
      auto existing = std::find_if(next->fields.begin(), next->fields.end(),
                                   [&](const OwnedField& f) { return f.key == field.key; });
      if (existing != next->fields.end())
        existing->value = OwnedValue(field.value);
      else
        next->fields.push_back(OwnedField{std::string(field.key), OwnedValue(field.value)});
    }
  }
  next->older = current;
  core->state.store(next.release(), std::memory_order_release);
}

void StructuredLogger::write(Level level, std::string_view message, const Field* fields,
                             std::size_t count, const ErrorCapture* error,
                             bool unfiltered) noexcept {
  std::uint64_t timestamp;
  ProducerQueue* queue = queue_for_record(timestamp);
  if (queue == nullptr) [[unlikely]]
    return;

  count = std::min(count, kMaxFields);
  std::uint32_t cap = g_max_field_bytes.load(std::memory_order_relaxed) + kScrubSlack;
  // Below the logger's level (it passed the inline check only because a backtrace is on):
  // the backend keeps the record instead of writing it.
  const std::uint8_t kept =
      !unfiltered && level < core_->write_level.load(std::memory_order_relaxed) ? kFlagKept : 0;
  if (error == nullptr) [[likely]] {
    if (std::byte* out = queue->ring.try_reserve(kOnePassBound)) [[likely]] {
      const std::uint32_t used = encode_one_pass(
          out, level, kept, timestamp,
          static_cast<LoggerCoreImpl*>(core_)->state.load(std::memory_order_acquire), message,
          fields, count, cap);
      if (used != 0) [[likely]] {
        queue->ring.commit(used);
        return;
      }
    }
  }

  // ---- size ----
  std::size_t size = sizeof(LogHeader) + stored_size(message.size(), cap);
  for (std::size_t i = 0; i < count; ++i) {
    const Field& field = fields[i];
    size += sizeof(FieldHeader) + std::min<std::size_t>(field.key.size(), kMaxKeyBytes);
    switch (field.value.type()) {
      case FieldValue::Type::kNull:
        break;
      case FieldValue::Type::kString:
        size += stored_size(field.value.as_string().size(), cap);
        break;
      default:
        size += 8;
    }
  }
  if (error != nullptr)
    size += sizeof(ErrorHeader) + stored_size(error->message.size(), cap) + error->frame_count * 8;
  const std::size_t limit = queue->ring.capacity() / 2;
  if (size > limit) [[unlikely]] {
    // Huge strings: share what the fixed part leaves among them (truncation marks the cut).
    std::size_t strings = 1 + (error != nullptr ? 1 : 0);
    for (std::size_t i = 0; i < count; ++i)
      if (fields[i].value.type() == FieldValue::Type::kString) ++strings;
    const std::size_t fixed = fixed_size(fields, count, error);
    cap = static_cast<std::uint32_t>(
        std::max<std::size_t>(64, (limit - std::min(limit, fixed)) / strings));
    size = fixed + stored_size(message.size(), cap);
    for (std::size_t i = 0; i < count; ++i)
      if (fields[i].value.type() == FieldValue::Type::kString)
        size += stored_size(fields[i].value.as_string().size(), cap);
    if (error != nullptr) size += stored_size(error->message.size(), cap);
  }
  const std::uint32_t total = align8(size);

  // ---- reserve ----
  std::byte* out = queue->ring.try_reserve(total);
  if (out == nullptr) [[unlikely]] {
    out = reserve_slow(*queue, total);
    if (out == nullptr) {
      count_dropped(g_overflow.load(std::memory_order_relaxed) == OverflowPolicy::kDrop &&
                            g_run_state.load(std::memory_order_relaxed) == RunState::kRunning
                        ? DropReason::kQueueFull
                        : DropReason::kShutdown);
      return;
    }
  }

  // ---- encode ----
  auto* core = static_cast<LoggerCoreImpl*>(core_);
  const std::uint32_t message_stored = stored_size(message.size(), cap);
  const LogHeader header{
      ChunkHeader{total, kKindLog, static_cast<std::uint8_t>(level),
                  static_cast<std::uint8_t>((error != nullptr ? kFlagError : 0) | kept), 0},
      timestamp,
      core->state.load(std::memory_order_acquire),
      message_stored,
      saturate32(message.size()),
      static_cast<std::uint32_t>(count),
      0};
  std::byte* p = out;
  std::memcpy(p, &header, sizeof header);
  p += sizeof header;
  copy_bytes(p, message.data(), message_stored);
  p += message_stored;
  for (std::size_t i = 0; i < count; ++i) {
    const Field& field = fields[i];
    const auto key_size =
        static_cast<std::uint16_t>(std::min<std::size_t>(field.key.size(), kMaxKeyBytes));
    const auto type = field.value.type();
    FieldHeader field_header{static_cast<std::uint8_t>(type), 0, key_size, 0, 0};
    if (type == FieldValue::Type::kString) {
      field_header.stored = stored_size(field.value.as_string().size(), cap);
      field_header.original = saturate32(field.value.as_string().size());
    }
    std::memcpy(p, &field_header, sizeof field_header);
    p += sizeof field_header;
    copy_bytes(p, field.key.data(), key_size);
    p += key_size;
    if (type == FieldValue::Type::kString) {
      copy_bytes(p, field.value.as_string().data(), field_header.stored);
      p += field_header.stored;
    } else if (type != FieldValue::Type::kNull) {  // bool, integers and double: 8 raw bytes
      const std::uint64_t bits = field.value.scalar_bits();
      std::memcpy(p, &bits, 8);
      p += 8;
    }
  }
  if (error != nullptr) {
    const ErrorHeader error_header{error->type_name, stored_size(error->message.size(), cap),
                                   saturate32(error->message.size()), error->frame_count,
                                   error->already_reported ? 1u : 0u};
    std::memcpy(p, &error_header, sizeof error_header);
    p += sizeof error_header;
    std::memcpy(p, error->message.data(), error_header.message_stored);
    p += error_header.message_stored;
    if (error->frame_count != 0) std::memcpy(p, error->frames, std::size_t{error->frame_count} * 8);
  }
  queue->ring.commit(total);
}

[[gnu::noinline]] void StructuredLogger::exception(std::string_view message, Fields fields) {
  log_exception(message, std::current_exception(), fields, __builtin_return_address(0));
}

[[gnu::noinline]] void StructuredLogger::exception(std::string_view message,
                                                   const std::exception_ptr& error, Fields fields) {
  log_exception(message, error, fields, __builtin_return_address(0));
}

void StructuredLogger::write_static(Level level, const StaticSite& site, std::size_t message_size,
                                    std::uint32_t count, const FieldValue* values) noexcept {
  std::uint64_t timestamp;
  ProducerQueue* queue = queue_for_record(timestamp);
  if (queue == nullptr) [[unlikely]]
    return;
  const std::uint32_t cap = g_max_field_bytes.load(std::memory_order_relaxed) + kScrubSlack;
  const std::uint8_t kept =
      level < core_->write_level.load(std::memory_order_relaxed) ? kFlagKept : 0;
  if (std::byte* out = queue->ring.try_reserve(kOnePassBound)) [[likely]] {
    const std::uint32_t used =
        encode_static(out, level, kept, timestamp,
                      static_cast<LoggerCoreImpl*>(core_)->state.load(std::memory_order_acquire),
                      site, message_size, count, values, cap);
    if (used != 0) [[likely]] {
      queue->ring.commit(used);
      return;
    }
  }
  // What the static form does not hold (see encode_static), or a full queue (the overflow
  // policy applies there): the regular call writes the same record.
  Field fields[kMaxFields];
  for (std::uint32_t i = 0; i < count; ++i) fields[i] = Field{site.keys[i], values[i]};
  write(level, site.message, fields, count, nullptr);
}

[[gnu::noinline]] void StructuredLogger::log_exception(std::string_view message,
                                                       const std::exception_ptr& error,
                                                       Fields fields, const void* caller) noexcept {
  std::string what;
  const char* type_name = nullptr;
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      type_name = typeid(e).name();
      try {
        what = e.what();
      } catch (...) {
      }
    } catch (...) {
      const std::type_info* type = abi::__cxa_current_exception_type();
      type_name = type != nullptr ? type->name() : nullptr;
    }
    // errors_total counts each exception object once, whatever the level lets through and
    // however many handlers log it.
    if (stacktrace::detail::claim_report(error, stacktrace::detail::Report::kCounted))
      count_error(type_name, name());
  }
  if (!is_enabled(Level::kError)) return;
  ErrorCapture capture;
  // Kept for a backtrace, the record becomes a breadcrumb at most: it must not claim the
  // exception's event.
  const bool written = level() <= Level::kError;
  if (error) {
    // One event per exception object: the record becomes one only if nothing (a capture, an
    // earlier record) claimed the object's event before.
    const int event_level = g_exception_event_level.load(std::memory_order_acquire);
    capture.already_reported =
        written && event_level >= 0 && static_cast<int>(Level::kError) >= event_level
            ? !stacktrace::detail::claim_report(error, stacktrace::detail::Report::kEvent)
            : stacktrace::detail::is_reported(error, stacktrace::detail::Report::kEvent);
  }
  // The trace starts where the exception was thrown when that is known, else at the caller of
  // exception(). How many of our own frames lie above the caller depends on inlining and tail
  // calls, so find the caller's return address instead of counting; fall back to the usual
  // three (capture_stack, here, exception()).
  constexpr std::uint32_t kOwnFrames = 3;
  void* frames[kMaxFrames + kOwnFrames + 2];
  const std::uint32_t thrown_at =
      error ? stacktrace::detail::throw_site(error, frames, kMaxFrames) : 0;
  if (thrown_at != 0) {
    capture.frames = frames;
    capture.frame_count = thrown_at;
  } else {
    const std::uint32_t captured = capture_stack(frames, kMaxFrames + kOwnFrames + 2);
    std::uint32_t skipped = captured > kOwnFrames ? kOwnFrames : captured;
    for (std::uint32_t i = 0; i < captured && i <= kOwnFrames + 1; ++i)
      if (frames[i] == caller) {
        skipped = i;
        break;
      }
    const std::uint32_t kept = std::min<std::uint32_t>(captured - skipped, kMaxFrames);
    capture.frames = kept != 0 ? frames + skipped : nullptr;
    capture.frame_count = kept;
  }
  capture.type_name = type_name;
  capture.message = what;
  write(Level::kError, message, fields.begin(), fields.size(), error ? &capture : nullptr);
}

namespace detail {

void apply_levels(Level level, const ModuleLevels& modules, bool backtrace) {
  LoggerRegistry& registry = logger_registry();
  std::lock_guard lock(registry.mutex);
  registry.level = level;
  registry.modules = modules;
  registry.backtrace = backtrace;
  for (LoggerCoreImpl* core = registry.head; core != nullptr; core = core->next)
    set_core_level(registry, *core);
}

void lock_logger_registry() noexcept {
  logger_registry().mutex.lock();
}
void unlock_logger_registry() noexcept {
  logger_registry().mutex.unlock();
}

}  // namespace detail
namespace detail {

void write_unfiltered(StructuredLogger& logger, Level level, std::string_view message,
                      std::span<const Field> fields) noexcept {
  if (logger.core_ == &g_disabled_core) return;
  logger.write(level, message, fields.data(), fields.size(), nullptr, /*unfiltered=*/true);
}

namespace {

void check_module_name(std::string_view module) {
  constexpr std::size_t kMaxModuleName = 200;
  const auto refuse = [&](const char* why) {
    throw InvalidModuleName("log module \"" + std::string(module.substr(0, kMaxModuleName)) +
                            (module.size() > kMaxModuleName ? "...\": " : "\": ") + why);
  };
  if (module.empty()) refuse("a module name must not be empty");
  if (module.size() > kMaxModuleName) refuse("longer than 200 bytes");
  for (const char c : module) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-';
    if (!allowed) refuse("only letters, digits and _ . : - are allowed");
  }
  if (module.front() == '.' || module.back() == '.' || module.find("..") != std::string_view::npos)
    refuse("a dotted part is empty");
}

// Sets every live logger's threshold after a change (the registry lock is held).
void reapply_levels(LoggerRegistry& registry) {
  for (LoggerCoreImpl* core = registry.head; core != nullptr; core = core->next)
    set_core_level(registry, *core);
}

std::string_view describe(std::optional<Level> level) {
  return level ? level_name(*level) : std::string_view("inherit");
}

void log_level_change(std::string_view module, std::string_view before, std::string_view after) {
  // Created on first use, outside the registry lock (a logger registers itself under it).
  static StructuredLogger* audit = new StructuredLogger("monitoring.loggers");  // used at exit
  const Field fields[] = {{"module", module}, {"old_level", before}, {"new_level", after}};
  write_unfiltered(*audit, Level::kWarning, "Log level changed", fields);
}

ModuleLevelInfo info_for(const LoggerRegistry& registry, std::string_view module) {
  ModuleLevelInfo info;
  info.name.assign(module);
  if (auto found = registry.modules.find(module); found != registry.modules.end())
    info.configured = found->second;
  info.effective = level_for(registry, module);
  return info;
}

}  // namespace
}  // namespace detail

std::optional<Level> set_module_level(std::string_view module, std::optional<Level> level) {
  check_module_name(module);
  std::optional<Level> previous;
  {
    LoggerRegistry& registry = logger_registry();
    std::lock_guard lock(registry.mutex);
    const auto found = registry.modules.find(module);
    if (found != registry.modules.end()) previous = found->second;
    if (level) {
      if (found != registry.modules.end())
        found->second = *level;
      else
        registry.modules.emplace(std::string(module), *level);
    } else if (found != registry.modules.end()) {
      registry.modules.erase(found);
    }
    reapply_levels(registry);
  }
  log_level_change(module, describe(previous), describe(level));
  return previous;
}

Level set_root_level(Level level) {
  Level previous;
  {
    LoggerRegistry& registry = logger_registry();
    std::lock_guard lock(registry.mutex);
    previous = std::exchange(registry.level, level);
    reapply_levels(registry);
  }
  log_level_change("root", level_name(previous), level_name(level));
  return previous;
}

LevelsSnapshot levels() {
  LoggerRegistry& registry = logger_registry();
  std::lock_guard lock(registry.mutex);
  ModuleLevels names;  // as a sorted set of names: configured modules and live loggers
  for (const auto& [name, module_level] : registry.modules) names.emplace(name, module_level);
  for (const LoggerCoreImpl* core = registry.head; core != nullptr; core = core->next)
    if (!core->name.empty()) names.emplace(core->name, Level::kOff);
  LevelsSnapshot snapshot;
  snapshot.root = registry.level;
  snapshot.modules.reserve(names.size());
  for (const auto& entry : names) snapshot.modules.push_back(info_for(registry, entry.first));
  return snapshot;
}

ModuleLevelInfo module_level(std::string_view module) {
  check_module_name(module);
  LoggerRegistry& registry = logger_registry();
  std::lock_guard lock(registry.mutex);
  return info_for(registry, module);
}

void set_error_counter(ErrorCounter counter) noexcept {
  detail::g_error_counter.store(counter, std::memory_order_release);
}

void set_exception_event_level(std::optional<Level> level) noexcept {
  detail::g_exception_event_level.store(level ? static_cast<int>(*level) : -1,
                                        std::memory_order_release);
}

}  // namespace monitoring::logging
