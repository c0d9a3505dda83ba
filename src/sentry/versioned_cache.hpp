#pragma once

// A thread's lock-free view of a shared pointer that is published under a mutex. The running
// client and the global scope are read on every capture: each thread caches a reference and
// revalidates it against a version number that the writers bump (under their mutex, which
// only they and a thread whose cache is out of date take). GCC 12's
// std::atomic<std::shared_ptr> would be the other way, but it hides a lock of its own and
// ThreadSanitizer cannot see it (false race reports).

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

namespace monitoring::sentry::detail {

/// Valid while the version has not moved. Holds the object until the thread's next refresh
/// or its exit (a closed client lingers until then: memory only, its worker has ended).
template <class T>
struct VersionedCache {
  std::uint64_t version = 0;
  std::shared_ptr<T> value;

  std::shared_ptr<T> get(const std::atomic<std::uint64_t>& current, std::mutex& mutex,
                         const std::shared_ptr<T>& published) {
    if (version != current.load(std::memory_order_acquire)) {
      std::shared_ptr<T> stale;
      {
        std::lock_guard lock(mutex);
        stale = std::exchange(value, published);
        version = current.load(std::memory_order_relaxed);
      }
    }  // `stale` goes after the lock: it may be the last reference
    return value;
  }
};

}  // namespace monitoring::sentry::detail
