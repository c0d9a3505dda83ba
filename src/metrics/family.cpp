#include "monitoring/metrics/family.hpp"

#include <algorithm>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "monitoring/error.hpp"
#include "monitoring/metrics/detail/cells.hpp"

namespace monitoring::metrics {

namespace detail {

void throw_label_count(std::string_view family, std::size_t expected, std::size_t got) {
  throw MetricError("metric '" + std::string(family) + "' takes " + std::to_string(expected) +
                    " label value(s), got " + std::to_string(got));
}

}  // namespace detail

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       std::vector<std::string> labels, std::size_t limit)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(labels)),
      limit_(limit) {}

void FamilyBase::set_series_limit(std::size_t limit) {
  if (limit == 0) throw MetricError("series limit of metric '" + name_ + "' must be at least 1");
  limit_ = limit;
}

namespace {

template <class T>
std::uint32_t cells_of(const T& series) {
  if constexpr (std::is_same_v<T, Counter>)
    return Counter::kCells;
  else if constexpr (std::is_same_v<T, Histogram>)
    return static_cast<std::uint32_t>(series.bounds().size() + 2);
  else
    return 0;
}

template <class T>
std::uint32_t first_real_of(const T& series) {
  if constexpr (std::is_same_v<T, Counter>)
    return Counter::kFirstReal;
  else if constexpr (std::is_same_v<T, Histogram>)
    return static_cast<std::uint32_t>(series.bounds().size() + 1);
  else
    return 0;
}

template <class T>
std::uint32_t offset_of(const T& series) {
  if constexpr (std::is_same_v<T, Gauge>)
    return 0;
  else
    return series.cell_offset();
}

// A scrape walks series objects scattered over the heap (series are created as label sets
// appear, interleaved with everything else); with 100 000 series that walk is bound by cache
// and TLB misses. The label text lives inside the object, so fetching a few objects ahead
// (both cache lines of a typical series) hides most of them.
/// Label values in the form series store them (invalid UTF-8 repaired, see repair_utf8).
/// Valid values, the common case, are used as they are; only invalid ones are copied.
class StoredLabels {
 public:
  explicit StoredLabels(std::span<const std::string_view> values) : values_(values) {
    if (std::all_of(values.begin(), values.end(), detail::is_utf8)) return;
    repaired_.reserve(values.size());
    for (std::string_view value : values)
      repaired_.push_back(detail::is_utf8(value) ? std::string(value) : detail::repair_utf8(value));
    views_.assign(repaired_.begin(), repaired_.end());
    values_ = views_;
  }
  StoredLabels(const StoredLabels&) = delete;  // values_ may point into views_
  StoredLabels& operator=(const StoredLabels&) = delete;

  bool repaired() const noexcept { return !repaired_.empty(); }
  std::span<const std::string_view> values() const noexcept { return values_; }

 private:
  std::span<const std::string_view> values_;
  std::vector<std::string> repaired_;
  std::vector<std::string_view> views_;
};

template <class T>
void prefetch_ahead(const std::vector<std::unique_ptr<T>>& series, std::size_t i) {
  constexpr std::size_t kDistance = 8;
  if (i + kDistance < series.size()) {
    const char* object = reinterpret_cast<const char*>(series[i + kDistance].get());
    __builtin_prefetch(object);
    __builtin_prefetch(object + 64);
  }
}

}  // namespace

template <class T>
Family<T>::~Family() {
  for (auto& series : series_)
    if (series) detail::CellSpace::release(offset_of(*series), cells_of(*series));
  for (auto& series : retired_)
    if (series) detail::CellSpace::release(offset_of(*series), cells_of(*series));
  if (overflow_) detail::CellSpace::release(offset_of(*overflow_), cells_of(*overflow_));
}

template <class T>
std::unique_ptr<T> Family<T>::make_series(std::span<const std::string_view> values,
                                          std::uint64_t hash) const {
  static_assert(sizeof(T) % alignof(std::uint32_t) == 0, "label storage must start aligned");
  void* memory = ::operator new(sizeof(T) + detail::SeriesKey::storage_size(values));
  try {
    return std::unique_ptr<T>(new (memory)
                                  T(values, hash, shape_, static_cast<char*>(memory) + sizeof(T)));
  } catch (...) {
    ::operator delete(memory);
    throw;
  }
}

template <class T>
T& Family<T>::create(std::span<const std::string_view> raw_values, std::uint64_t raw_hash) {
  // Series store their values repaired, so labels() never finds a value with invalid UTF-8
  // and lands here: look it up again in its stored form.
  const StoredLabels stored(raw_values);
  const std::span<const std::string_view> values = stored.values();
  const std::uint64_t hash = stored.repaired() ? detail::hash_label_values(values) : raw_hash;
  if (stored.repaired()) {  // an existing series is found without the lock, as in labels()
    if (detail::SeriesKey* key = table_.find(values, hash)) return static_cast<T&>(*key);
  }
  bool refused = false;
  T* result = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (detail::SeriesKey* key = table_.find(values, hash)) return static_cast<T&>(*key);
    if (table_.size() >= limit_) {
      if (!overflow_) overflow_ = make_series(values, hash);
      refused = true;
      result = overflow_.get();
    } else {
      // A removed series with the same labels comes back instead of a new object, so churn
      // over a fixed label set does not grow memory.
      std::unique_ptr<T> series;
      for (auto& old : retired_) {
        if (old && old->matches(values, hash)) {
          series = std::move(old);
          old = std::move(retired_.back());
          retired_.pop_back();
          break;
        }
      }
      if (!series) series = make_series(values, hash);
      result = series.get();
      series_.push_back(std::move(series));
      table_.insert(result);
    }
  }
  if (refused) detail::count_refused_series(name_);
  return *result;
}

template <class T>
bool Family<T>::remove(std::span<const std::string_view> raw_values) {
  if (raw_values.size() != label_names_.size())
    detail::throw_label_count(name_, label_names_.size(), raw_values.size());
  const StoredLabels stored(raw_values);
  const std::span<const std::string_view> values = stored.values();
  const std::uint64_t hash = detail::hash_label_values(values);
  T* removed = nullptr;
  {
    std::lock_guard lock(mutex_);
    detail::SeriesKey* key = table_.find(values, hash);
    if (key == nullptr) return false;
    removed = static_cast<T*>(key);
    table_.erase(key);
    for (auto& series : series_) {
      if (series.get() == removed) {
        // Kept alive: a lock-free reader may still hold the pointer from a probe.
        retired_.push_back(std::move(series));
        break;
      }
    }
    std::erase(series_, nullptr);
  }
  // Zero outside the family lock (a scrape holds the cell lock, then family locks).
  if constexpr (std::is_same_v<T, Gauge>) {
    removed->reset();
  } else {
    if constexpr (std::is_same_v<T, Histogram>)
      removed->clear_exemplars();  // a revival starts clean
    const std::uint32_t width = cells_of(*removed);
    detail::CellSpace::release(removed->cell_offset(), width);
    // The object keeps its offset for reuse on revival; reserve a fresh range for it now so
    // the released one is not shared.
    removed->offset_ = detail::CellSpace::allocate(width, first_real_of(*removed));
  }
  return true;
}

template <class T>
void Family<T>::collect(MetricWriter& writer) const {
  writer.family(name_, help_, type_);
  std::lock_guard lock(mutex_);
  if constexpr (std::is_same_v<T, Counter>) {
    double cells[Counter::kCells];
    for (std::size_t i = 0; i < series_.size(); ++i) {
      prefetch_ahead(series_, i);
      const Counter& series = *series_[i];
      detail::CellSpace::sum(series.cell_offset(), Counter::kCells, Counter::kFirstReal, cells);
      writer.series_sample(label_names_, series, cells[0] + cells[1]);
    }
  } else if constexpr (std::is_same_v<T, Gauge>) {
    for (std::size_t i = 0; i < series_.size(); ++i) {
      prefetch_ahead(series_, i);
      writer.series_sample(label_names_, *series_[i], series_[i]->value());
    }
  } else {
    const auto bounds = shape_.bounds;
    const std::uint32_t n = shape_.count;
    std::vector<double> cells(n + 2);
    // Reused for every series: its strings keep their capacity, so reading exemplars does not
    // allocate per series. Only OpenMetrics has exemplars.
    std::vector<Exemplar> exemplars;
    const bool with_exemplars = writer.format() == ExpositionFormat::kOpenMetrics;
    for (std::size_t i = 0; i < series_.size(); ++i) {
      prefetch_ahead(series_, i);
      const auto& series = series_[i];
      // Exemplars before counts: an observer counts, then writes the exemplar (release), so
      // every exemplar read here belongs to an observation the counts below include.
      std::span<const Exemplar> series_exemplars;
      if (with_exemplars && series->read_exemplars(exemplars)) series_exemplars = exemplars;
      detail::CellSpace::sum(series->cell_offset(), n + 2, n + 1, cells.data());
      const double sum = cells[n + 1];
      for (std::uint32_t i = 1; i <= n; ++i) cells[i] += cells[i - 1];  // cumulative, +Inf last
      writer.series_histogram(label_names_, *series, {bounds, n}, {cells.data(), n + 1}, sum,
                              series_exemplars);
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

}  // namespace monitoring::metrics
