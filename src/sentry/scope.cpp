// The scope's state and its public setters: the global layer (copied, changed and published
// under a mutex, and mirrored for the crash handler) and the per-thread layer of ThreadScope.

#include "sentry/scope.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "monitoring/core/task_local.hpp"
#include "sentry/crash.hpp"
#include "sentry/signal_safe.hpp"

namespace monitoring::sentry {
namespace detail {

std::mutex g_scope_mutex;
std::shared_ptr<const ScopeData> g_global_scope = std::make_shared<ScopeData>();  // guarded
std::atomic<std::uint64_t> g_scope_version{1};

namespace {

template <class Mutate>
void update_global(Mutate&& mutate) {
  ensure_thread_alt_stack();
  std::shared_ptr<const ScopeData> previous;
  std::lock_guard lock(g_scope_mutex);
  auto next = std::make_shared<ScopeData>(*g_global_scope);
  mutate(*next);
  // The crash handler's copy: its user, tags, extra, contexts and fingerprint.
  scope_mirror().publish(scope_record_lines(*next));
  previous = std::exchange(g_global_scope, std::move(next));
  g_scope_version.fetch_add(1, std::memory_order_release);
}

template <class Mutate>
void update_thread(Mutate&& mutate) {
  ensure_thread_alt_stack();
  auto next =
      t_thread_scope ? std::make_shared<ScopeData>(*t_thread_scope) : std::make_shared<ScopeData>();
  mutate(*next);
  t_thread_scope = std::move(next);
}

void put(Tags& pairs, std::string_view key, std::string_view value) {
  auto it = std::find_if(pairs.begin(), pairs.end(), [&](const auto& p) { return p.first == key; });
  if (value.empty()) {
    if (it != pairs.end()) pairs.erase(it);
  } else if (it != pairs.end()) {
    it->second = std::string(value);
  } else {
    pairs.emplace_back(std::string(key), std::string(value));
  }
}

void put_context(ScopeData& scope, std::string_view name, Tags values) {
  auto it = std::find_if(scope.contexts.begin(), scope.contexts.end(),
                         [&](const auto& c) { return c.first == name; });
  if (values.empty()) {
    if (it != scope.contexts.end()) scope.contexts.erase(it);
  } else if (it != scope.contexts.end()) {
    it->second = std::move(values);
  } else {
    scope.contexts.emplace_back(std::string(name), std::move(values));
  }
}

void check_tag_key(std::string_view key) {
  if (key.empty() || key.size() > 32 || std::any_of(key.begin(), key.end(), [](char c) {
        return static_cast<unsigned char>(c) <= ' ';
      }))
    throw SentryError("sentry: invalid tag key '" + std::string(key.substr(0, 64)) +
                      "': 1..32 characters without spaces or control characters");
}

void check_name(std::string_view what, std::string_view name) {
  if (name.empty()) throw SentryError("sentry: " + std::string(what) + " must not be empty");
}

// A task (coroutine) carries its own thread layer: it starts with the spawner's (layers are
// immutable, so sharing one is safe) and ThreadScopes opened in it stay in it.
using TaskThreadScope = std::shared_ptr<const ScopeData>;

[[maybe_unused]] const bool g_task_scope_registered = [] {
  core::register_task_local({
      []() -> void* { return new TaskThreadScope(t_thread_scope); },
      [](void* storage) noexcept { t_thread_scope.swap(*static_cast<TaskThreadScope*>(storage)); },
      [](void* storage) noexcept { delete static_cast<TaskThreadScope*>(storage); },
  });
  return true;
}();

}  // namespace
}  // namespace detail

void set_user(User user) {
  detail::update_global([&](detail::ScopeData& s) {
    s.has_user = !user.empty();
    s.user = std::move(user);
  });
}

void set_tag(std::string_view key, std::string_view value) {
  detail::check_tag_key(key);
  detail::update_global([&](detail::ScopeData& s) { detail::put(s.tags, key, value); });
}

void set_extra(std::string_view key, std::string_view value) {
  detail::check_name("extra key", key);
  detail::update_global([&](detail::ScopeData& s) { detail::put(s.extra, key, value); });
}

void set_context(std::string_view name, Tags values) {
  detail::check_name("context name", name);
  detail::update_global(
      [&](detail::ScopeData& s) { detail::put_context(s, name, std::move(values)); });
}

void set_fingerprint(std::vector<std::string> fingerprint) {
  detail::update_global([&](detail::ScopeData& s) { s.fingerprint = std::move(fingerprint); });
}

ThreadScope::ThreadScope() : previous_(detail::t_thread_scope), owner_(core::scope_owner()) {
  detail::ensure_thread_alt_stack();
  detail::t_thread_scope =
      detail::t_thread_scope ? detail::t_thread_scope : std::make_shared<const detail::ScopeData>();
}

ThreadScope::~ThreadScope() {
  if (owner_ == core::scope_owner())
    detail::t_thread_scope = std::static_pointer_cast<const detail::ScopeData>(previous_);
}

ThreadScope& ThreadScope::set_user(User user) {
  detail::update_thread([&](detail::ScopeData& s) {
    s.has_user = !user.empty();
    s.user = std::move(user);
  });
  return *this;
}

ThreadScope& ThreadScope::set_tag(std::string_view key, std::string_view value) {
  detail::check_tag_key(key);
  detail::update_thread([&](detail::ScopeData& s) { detail::put(s.tags, key, value); });
  return *this;
}

ThreadScope& ThreadScope::set_extra(std::string_view key, std::string_view value) {
  detail::check_name("extra key", key);
  detail::update_thread([&](detail::ScopeData& s) { detail::put(s.extra, key, value); });
  return *this;
}

ThreadScope& ThreadScope::set_context(std::string_view name, Tags values) {
  detail::check_name("context name", name);
  detail::update_thread(
      [&](detail::ScopeData& s) { detail::put_context(s, name, std::move(values)); });
  return *this;
}

ThreadScope& ThreadScope::set_fingerprint(std::vector<std::string> fingerprint) {
  detail::update_thread([&](detail::ScopeData& s) { s.fingerprint = std::move(fingerprint); });
  return *this;
}

}  // namespace monitoring::sentry
