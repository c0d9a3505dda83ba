#pragma once

// The label-values -> series index of one metric family.
//
// Lookups are lock-free: an open-addressing table of atomic pointers to immutable series keys,
// read with acquire loads. Inserts and growth happen under the family's mutex; a grown table
// is published with a release store and the old one is kept until the family dies, so a
// reader holding it still sees every series it had. A reader that misses a series inserted
// concurrently falls to the locked slow path, which finds it.

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace monitoring::metrics::detail {

/// 64-bit hash of a label-value tuple; 8 bytes per step, values separated by their lengths.
inline std::uint64_t hash_label_values(std::span<const std::string_view> values) noexcept {
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ull;
  std::uint64_t h = 0x243F6A8885A308D3ull ^ values.size();
  auto mix = [&](std::uint64_t x) {
    h ^= x;
    h *= kMul;
    h ^= h >> 29;
  };
  for (std::string_view v : values) {
    const char* p = v.data();
    std::size_t n = v.size();
    mix(n);
    while (n >= 8) {
      std::uint64_t x;
      std::memcpy(&x, p, 8);
      mix(x);
      p += 8;
      n -= 8;
    }
    if (n > 0) {
      std::uint64_t x = 0;
      std::memcpy(&x, p, n);
      mix(x);
    }
  }
  h ^= h >> 32;
  return h;
}

/// What every series shares: its label values and their hash.
class SeriesKey {
 public:
  SeriesKey(std::span<const std::string_view> values, std::uint64_t hash)
      : label_values_(values.begin(), values.end()), hash_(hash) {}

  const std::vector<std::string>& label_values() const noexcept { return label_values_; }
  std::uint64_t hash() const noexcept { return hash_; }

  bool matches(std::span<const std::string_view> values, std::uint64_t hash) const noexcept {
    if (hash != hash_) return false;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (values[i] != label_values_[i]) return false;
    }
    return true;
  }

 private:
  std::vector<std::string> label_values_;
  std::uint64_t hash_;
};

class SeriesTable {
 public:
  SeriesTable();
  ~SeriesTable();
  SeriesTable(const SeriesTable&) = delete;
  SeriesTable& operator=(const SeriesTable&) = delete;

  /// Lock-free lookup; nullptr when absent.
  SeriesKey* find(std::span<const std::string_view> values, std::uint64_t hash) const noexcept {
    const Table* table = table_.load(std::memory_order_acquire);
    std::size_t i = hash & table->mask;
    for (;;) {
      SeriesKey* key = table->slots[i].load(std::memory_order_acquire);
      if (key == nullptr) return nullptr;
      if (key != tombstone() && key->matches(values, hash)) return key;
      i = (i + 1) & table->mask;
    }
  }

  /// Under the family's mutex. `key` must not be present.
  void insert(SeriesKey* key);
  /// Under the family's mutex.
  void erase(SeriesKey* key);
  std::size_t size() const noexcept { return size_; }

 private:
  struct Table {
    explicit Table(std::size_t capacity);
    std::size_t mask;
    std::unique_ptr<std::atomic<SeriesKey*>[]> slots;
  };
  static SeriesKey* tombstone() noexcept { return reinterpret_cast<SeriesKey*>(alignof(SeriesKey)); }
  void grow();

  std::atomic<Table*> table_;
  std::vector<std::unique_ptr<Table>> tables_;  // the current one last; older ones kept for readers
  std::size_t size_ = 0;
  std::size_t used_ = 0;  // live entries plus tombstones
};

}  // namespace monitoring::metrics::detail
