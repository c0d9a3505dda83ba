#pragma once

// The scope: user, tags, extra, contexts and fingerprint that events inherit, as a global
// layer (published for every thread) and a per-thread layer (ThreadScope). The readers are
// inline because every capture takes a snapshot of both on the caller's thread; the setters
// (scope.cpp) copy a layer, change the copy and publish it.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "monitoring/sentry/client.hpp"
#include "sentry/versioned_cache.hpp"

namespace monitoring::sentry::detail {

/// One scope layer (global or per-thread). Immutable once published: setters copy it.
struct ScopeData {
  bool has_user = false;
  User user;
  Tags tags;
  Tags extra;
  std::vector<std::pair<std::string, Tags>> contexts;
  std::vector<std::string> fingerprint;
};

// The published global scope; written only by scope.cpp's setters, under g_scope_mutex.
// Hidden: in a shared library the capture path then reaches them as directly as file-local
// variables (no GOT load, no __tls_get_addr per variable).
[[gnu::visibility("hidden")]] extern std::mutex g_scope_mutex;
[[gnu::visibility("hidden")]] extern std::shared_ptr<const ScopeData> g_global_scope;
[[gnu::visibility("hidden")]] extern std::atomic<std::uint64_t>
    g_scope_version;  // bumped with every change of it

[[gnu::visibility("hidden")]] inline thread_local VersionedCache<const ScopeData> t_global_scope;
/// The calling thread's layer (null outside a ThreadScope that set something).
[[gnu::visibility("hidden")]] inline thread_local std::shared_ptr<const ScopeData> t_thread_scope;

/// The global scope as of now, from this thread's cache (no lock while it is current).
inline std::shared_ptr<const ScopeData> load_global_scope() {
  return t_global_scope.get(g_scope_version, g_scope_mutex, g_global_scope);
}

}  // namespace monitoring::sentry::detail
