// The throw hook and the table of throw sites (see throw_site.hpp).
//
// This file must contain no throw expression: GCC declares its own __cxa_throw for them, with
// a signature that conflicts with the definition below. It also holds the functions logging
// and Sentry call, so a static link that uses either always pulls the hook in with them.

#include "stacktrace/throw_site.hpp"

#include <cxxabi.h>
#include <dlfcn.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <typeinfo>

#include "stacktrace/stack_trace.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define MONITORING_THROW_HOOK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MONITORING_THROW_HOOK_ASAN 1
#endif
#endif
#ifdef MONITORING_THROW_HOOK_ASAN
// ASan's own __cxa_throw interceptor (a weak symbol this definition replaces) does this.
extern "C" void __asan_handle_no_return();
#endif

namespace monitoring::stacktrace::detail {
namespace {

static_assert(sizeof(std::exception_ptr) == sizeof(void*),
              "std::exception_ptr is expected to hold the thrown object's address");

struct Entry {
  const void* object = nullptr;
  const std::type_info* type = nullptr;  // nullptr: no known type (accepts any)
  std::uint64_t generation = 0;          // order of use; 0 = free
  std::uint32_t frame_count = 0;
  std::uint8_t marks = 0;
  void* frames[kMaxThrowFrames]{};
};

// Set-associative: an object's address picks a set; within it, a new record takes a free way
// or the one used longest ago. Records leave when their exception is freed, so the table holds
// the live exceptions (few); a record is only lost when more than kWays live exceptions share
// its set (or an exception was freed by a path that bypasses the hook).
constexpr std::size_t kSets = 256;
constexpr std::size_t kWays = 4;

struct alignas(64) Set {
  std::mutex mutex;
  Entry ways[kWays];
};

// Constant-initialized: throws during static initialization find the table ready.
Set g_sets[kSets];
std::atomic<std::uint64_t> g_generation{0};
std::atomic<int> g_mode{-1};  // -1: not decided yet (read the environment), 0 off, 1 on

Set& set_of(const void* object) noexcept {
  const auto bits = reinterpret_cast<std::uintptr_t>(object) >> 4;
  return g_sets[(bits * 0x9E3779B97F4A7C15ull) >> 56 & (kSets - 1)];
}

Entry* find(Set& set, const void* object) noexcept {
  for (Entry& entry : set.ways)
    if (entry.generation != 0 && entry.object == object) return &entry;
  return nullptr;
}

Entry& take(Set& set, const void* object) noexcept {
  if (Entry* entry = find(set, object)) return *entry;
  Entry* oldest = &set.ways[0];
  for (Entry& entry : set.ways) {
    if (entry.generation == 0) return entry;
    if (entry.generation < oldest->generation) oldest = &entry;
  }
  return *oldest;
}

struct Key {
  const void* object = nullptr;
  const std::type_info* type = nullptr;
};

Key key_of(const std::exception_ptr& error) noexcept {
  Key key;
  if (!error) return key;
  std::memcpy(&key.object, &error, sizeof key.object);
  key.type = error.__cxa_exception_type();
  return key;
}

bool same_type(const Entry& entry, const std::type_info* type) noexcept {
  return entry.type == nullptr || type == nullptr || *entry.type == *type;
}

std::uint64_t next_generation() noexcept {
  return g_generation.fetch_add(1, std::memory_order_relaxed) + 1;
}

/// The live record of `key`'s object, marked as just used (eviction takes the least recently
/// used), or nullptr.
Entry* use(Set& set, const Key& key) noexcept {
  Entry* entry = find(set, key.object);
  if (entry == nullptr || !same_type(*entry, key.type)) return nullptr;
  entry->generation = next_generation();
  return entry;
}

void forget(const void* object) noexcept {
  if (object == nullptr || g_generation.load(std::memory_order_relaxed) == 0) return;
  Set& set = set_of(object);
  std::lock_guard lock(set.mutex);
  if (Entry* entry = find(set, object)) *entry = Entry{};
}

[[gnu::noinline]] void record_throw(const void* object, const std::type_info* type,
                                    const void* thrower) noexcept {
  if (!throw_traces_enabled()) return;
  constexpr std::uint32_t kOwnFrames = 3;  // capture_stack, this function, __cxa_throw
  void* raw[kMaxThrowFrames + kOwnFrames + 2];
  const std::uint32_t count = logging::detail::capture_stack(raw, kMaxThrowFrames + kOwnFrames + 2);
  // Start at the thrower; its return address is exact, whatever got inlined above it.
  std::uint32_t first = 0;
  for (std::uint32_t i = 0; i < count && i <= kOwnFrames + 1; ++i)
    if (raw[i] == thrower) {
      first = i;
      break;
    }
  const std::uint32_t kept = std::min(count - first, kMaxThrowFrames);
  Set& set = set_of(object);
  std::lock_guard lock(set.mutex);
  Entry& entry = take(set, object);
  entry.object = object;
  entry.type = type;
  entry.generation = next_generation();
  entry.marks = 0;
  entry.frame_count = kept;
  std::memcpy(entry.frames, raw + first, std::size_t{kept} * sizeof(void*));
}

template <class Fn>
Fn next_definition(const char* name) noexcept {
  void* found = ::dlsym(RTLD_NEXT, name);
  if (found == nullptr) {
    std::fprintf(stderr, "monitoring: %s not found after the throw hook: %s\n", name, ::dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(found);
}

}  // namespace

void set_throw_traces(bool enabled) noexcept {
  g_mode.store(enabled ? 1 : 0, std::memory_order_relaxed);
}

bool throw_traces_off_by(const char* text) noexcept {
  if (text == nullptr) return false;
  for (const char* off : {"0", "false", "off", "no"})
    if (::strcasecmp(text, off) == 0) return true;
  return false;
}

bool throw_traces_enabled() noexcept {
  int mode = g_mode.load(std::memory_order_relaxed);
  if (mode < 0) {
    mode = throw_traces_off_by(std::getenv("MONITORING_THROW_TRACES")) ? 0 : 1;
    int expected = -1;
    if (!g_mode.compare_exchange_strong(expected, mode, std::memory_order_relaxed))
      mode = expected;  // set_throw_traces ran meanwhile
  }
  return mode == 1;
}

std::uint32_t throw_site(const std::exception_ptr& error, void** frames,
                         std::uint32_t max) noexcept {
  const Key key = key_of(error);
  if (key.object == nullptr) return 0;
  Set& set = set_of(key.object);
  std::lock_guard lock(set.mutex);
  const Entry* entry = use(set, key);
  if (entry == nullptr) return 0;
  const std::uint32_t count = std::min(entry->frame_count, max);
  std::memcpy(frames, entry->frames, std::size_t{count} * sizeof(void*));
  return count;
}

bool claim_report(const std::exception_ptr& error, Report way) noexcept {
  const Key key = key_of(error);
  if (key.object == nullptr) return false;
  const auto bit = static_cast<std::uint8_t>(way);
  Set& set = set_of(key.object);
  std::lock_guard lock(set.mutex);
  if (Entry* known = use(set, key)) {
    if (known->marks & bit) return false;
    known->marks |= bit;
    return true;
  }
  // No record of this object yet (not thrown, or thrown with recording off), or one of an
  // earlier object of another type in the same memory: start afresh.
  Entry& entry = take(set, key.object);
  entry = Entry{};
  entry.object = key.object;
  entry.type = key.type;
  entry.generation = next_generation();
  entry.marks = bit;
  return true;
}

bool is_reported(const std::exception_ptr& error, Report way) noexcept {
  const Key key = key_of(error);
  if (key.object == nullptr) return false;
  Set& set = set_of(key.object);
  std::lock_guard lock(set.mutex);
  const Entry* entry = use(set, key);
  return entry != nullptr && (entry->marks & static_cast<std::uint8_t>(way)) != 0;
}

}  // namespace monitoring::stacktrace::detail

// The runtime's entry points, replaced for the whole program; each calls the next definition
// (libstdc++'s). libstdc++'s own throws (std::vector::at, std::stoi, ...) call them through
// the dynamic symbol table too, so they are recorded like the application's.
extern "C" {

void* __cxa_allocate_exception(std::size_t size) noexcept {
  using Allocate = void* (*)(std::size_t) noexcept;
  static const Allocate next =
      monitoring::stacktrace::detail::next_definition<Allocate>("__cxa_allocate_exception");
  void* object = next(size);
  // The memory may have held an earlier exception: its record must not describe this one.
  monitoring::stacktrace::detail::forget(object);
  return object;
}

// Freed exceptions leave the table at once (libstdc++ frees them through the dynamic symbol
// table as well), so its ways hold live exceptions, not stale ones that would push a live
// record out under a burst of throws.
void __cxa_free_exception(void* object) noexcept {
  using Free = void (*)(void*) noexcept;
  static const Free next =
      monitoring::stacktrace::detail::next_definition<Free>("__cxa_free_exception");
  monitoring::stacktrace::detail::forget(object);
  next(object);
}

void __cxa_throw(void* object, std::type_info* type, void (*destroy)(void*)) {
  using Throw = void (*)(void*, std::type_info*, void (*)(void*));
  static const Throw next = monitoring::stacktrace::detail::next_definition<Throw>("__cxa_throw");
  monitoring::stacktrace::detail::record_throw(object, type, __builtin_return_address(0));
#ifdef MONITORING_THROW_HOOK_ASAN
  __asan_handle_no_return();
#endif
  next(object, type, destroy);
  __builtin_unreachable();
}

}  // extern "C"
