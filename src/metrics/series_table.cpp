#include "monitoring/metrics/detail/series_table.hpp"

namespace monitoring::metrics::detail {

namespace {
constexpr std::size_t kInitialCapacity = 16;
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
