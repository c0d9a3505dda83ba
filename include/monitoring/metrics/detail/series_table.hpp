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

/// True when every byte of `value` belongs to a well-formed UTF-8 sequence (RFC 3629). A run
/// of ASCII costs one comparison per byte.
bool is_utf8(std::string_view value) noexcept;

/// `value` with each byte that starts no well-formed UTF-8 sequence replaced by U+FFFD: the
/// form the exposition shows it in. Label values are stored in this form, so values that
/// differ only in invalid bytes name the same series (exported apart, they would be two
/// samples with the same name and labels, and Prometheus rejects such a scrape).
std::string repair_utf8(std::string_view value);

/// Bytes `value` takes once escaped for the exposition (backslash, quote and newline
/// escaped, invalid UTF-8 replaced by U+FFFD); writes them to `out` when it is not null.
std::size_t escape_label_value(std::string_view value, char* out) noexcept;

/// What every series shares: its label values and their hash.
///
/// The values live right behind the series object, in the same allocation (see
/// Family::make_series), together with their escaped form when it differs: a lookup compares
/// bytes without chasing pointers, a scrape copies ready-made text, and a 3-label series costs
/// one heap block instead of four.
class SeriesKey {
 public:
  SeriesKey(const SeriesKey&) = delete;
  SeriesKey& operator=(const SeriesKey&) = delete;

  std::size_t label_count() const noexcept { return count_; }
  /// The i-th label value as given to `labels(...)`, invalid UTF-8 repaired (repair_utf8).
  std::string_view label_value(std::size_t i) const noexcept { return slice(raw_bytes(), 0, i); }
  /// The i-th label value escaped for the exposition (the same bytes in text and OpenMetrics).
  std::string_view exposed_label_value(std::size_t i) const noexcept {
    return escaped_ ? slice(raw_bytes() + raw_size(), count_, i) : label_value(i);
  }
  /// Copies of the label values, in label-name order.
  std::vector<std::string> label_values() const;
  std::uint64_t hash() const noexcept { return hash_; }

  bool matches(std::span<const std::string_view> values, std::uint64_t hash) const noexcept {
    if (hash != hash_) return false;
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (values[i] != label_value(i)) return false;
    }
    return true;
  }

  /// Bytes of label storage a series with these values needs behind its object.
  static std::size_t storage_size(std::span<const std::string_view> values) noexcept;

  /// Series are allocated by Family::make_series with their storage behind them; the unsized
  /// form releases that whole block (a sized delete would name the object's size only).
  static void operator delete(void* memory) noexcept { ::operator delete(memory); }

 protected:
  /// `storage`: storage_size(values) bytes right behind the derived object.
  SeriesKey(std::span<const std::string_view> values, std::uint64_t hash, char* storage) noexcept;
  ~SeriesKey() = default;

 private:
  // Storage: count_ end offsets of the raw values (uint32), the same for the escaped values
  // when escaped_, then the raw bytes, then the escaped bytes.
  std::uint32_t end_of(std::size_t table, std::size_t i) const noexcept {
    std::uint32_t end;
    std::memcpy(&end, storage_ + (table + i) * sizeof(std::uint32_t), sizeof end);
    return end;
  }
  std::string_view slice(const char* bytes, std::size_t table, std::size_t i) const noexcept {
    const std::uint32_t begin = i == 0 ? 0 : end_of(table, i - 1);
    return {bytes + begin, end_of(table, i) - begin};
  }
  const char* raw_bytes() const noexcept {
    return storage_ + (escaped_ ? 2 : 1) * count_ * sizeof(std::uint32_t);
  }
  std::uint32_t raw_size() const noexcept { return count_ == 0 ? 0 : end_of(0, count_ - 1); }

  char* storage_;
  std::uint64_t hash_;
  std::uint32_t count_;
  bool escaped_;  // some value needed escaping, so an escaped copy is stored
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
  static SeriesKey* tombstone() noexcept {
    return reinterpret_cast<SeriesKey*>(alignof(SeriesKey));
  }
  void grow();

  std::atomic<Table*> table_;
  std::vector<std::unique_ptr<Table>> tables_;  // the current one last; older ones kept for readers
  std::size_t size_ = 0;
  std::size_t used_ = 0;  // live entries plus tombstones
};

}  // namespace monitoring::metrics::detail
