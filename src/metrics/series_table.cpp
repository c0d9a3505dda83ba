#include "monitoring/metrics/detail/series_table.hpp"

namespace monitoring::metrics::detail {

namespace {
constexpr std::size_t kInitialCapacity = 16;
}

std::size_t SeriesKey::storage_size(std::span<const std::string_view> values) noexcept {
  std::size_t raw = 0, escaped = 0;
  for (std::string_view value : values) {
    raw += value.size();
    escaped += escape_label_value(value, nullptr);
  }
  const std::size_t table = values.size() * sizeof(std::uint32_t);
  // Escaping only ever lengthens a value, so equal sizes mean nothing needed it.
  return escaped == raw ? table + raw : 2 * table + raw + escaped;
}

SeriesKey::SeriesKey(std::span<const std::string_view> values, std::uint64_t hash,
                     char* storage) noexcept
    : storage_(storage),
      hash_(hash),
      count_(static_cast<std::uint32_t>(values.size())),
      escaped_(false) {
  std::size_t raw_total = 0, escaped_total = 0;
  for (std::string_view value : values) {
    raw_total += value.size();
    escaped_total += escape_label_value(value, nullptr);
  }
  escaped_ = escaped_total != raw_total;
  char* bytes = storage_ + (escaped_ ? 2 : 1) * count_ * sizeof(std::uint32_t);
  std::uint32_t end = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!values[i].empty()) std::memcpy(bytes + end, values[i].data(), values[i].size());
    end += static_cast<std::uint32_t>(values[i].size());
    std::memcpy(storage_ + i * sizeof end, &end, sizeof end);
  }
  if (!escaped_) return;
  char* escaped_bytes = bytes + end;
  std::uint32_t escaped_end = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    escaped_end +=
        static_cast<std::uint32_t>(escape_label_value(values[i], escaped_bytes + escaped_end));
    std::memcpy(storage_ + (count_ + i) * sizeof escaped_end, &escaped_end, sizeof escaped_end);
  }
}

std::vector<std::string> SeriesKey::label_values() const {
  std::vector<std::string> values;
  values.reserve(count_);
  for (std::size_t i = 0; i < count_; ++i) values.emplace_back(label_value(i));
  return values;
}

SeriesTable::Table::Table(std::size_t capacity)
    : mask(capacity - 1), slots(new std::atomic<SeriesKey*>[capacity]) {
  for (std::size_t i = 0; i < capacity; ++i) slots[i].store(nullptr, std::memory_order_relaxed);
}

SeriesTable::SeriesTable() {
  tables_.push_back(std::make_unique<Table>(kInitialCapacity));
  table_.store(tables_.back().get(), std::memory_order_release);
}

SeriesTable::~SeriesTable() = default;

void SeriesTable::insert(SeriesKey* key) {
  // Keep the load (live + tombstones) at most 1/2 so probes stay short and always end.
  if ((used_ + 1) * 2 > tables_.back()->mask + 1) grow();
  Table* table = tables_.back().get();
  std::size_t i = key->hash() & table->mask;
  for (;;) {
    SeriesKey* current = table->slots[i].load(std::memory_order_relaxed);
    if (current == nullptr) {
      ++used_;
      break;
    }
    if (current == tombstone()) break;  // reuse; `used_` already counts it
    i = (i + 1) & table->mask;
  }
  table->slots[i].store(key, std::memory_order_release);
  ++size_;
}

void SeriesTable::erase(SeriesKey* key) {
  Table* table = tables_.back().get();
  std::size_t i = key->hash() & table->mask;
  for (;;) {
    SeriesKey* current = table->slots[i].load(std::memory_order_relaxed);
    if (current == nullptr) return;
    if (current == key) {
      table->slots[i].store(tombstone(), std::memory_order_release);
      --size_;
      return;
    }
    i = (i + 1) & table->mask;
  }
}

void SeriesTable::grow() {
  const Table* old = tables_.back().get();
  // Grow only when live entries need it; otherwise rebuild at the same size to drop tombstones.
  std::size_t capacity = old->mask + 1;
  while ((size_ + 1) * 2 > capacity / 2) capacity *= 2;
  auto table = std::make_unique<Table>(capacity);
  for (std::size_t j = 0; j <= old->mask; ++j) {
    SeriesKey* key = old->slots[j].load(std::memory_order_relaxed);
    if (key == nullptr || key == tombstone()) continue;
    std::size_t i = key->hash() & table->mask;
    while (table->slots[i].load(std::memory_order_relaxed) != nullptr) i = (i + 1) & table->mask;
    table->slots[i].store(key, std::memory_order_relaxed);
  }
  used_ = size_;
  table_.store(table.get(), std::memory_order_release);
  tables_.push_back(std::move(table));
}

}  // namespace monitoring::metrics::detail
