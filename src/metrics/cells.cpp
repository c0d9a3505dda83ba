#include "monitoring/metrics/detail/cells.hpp"

#include <sched.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "monitoring/error.hpp"

namespace monitoring::metrics::detail {

Cell* g_chunk_table[kRows << kMaxChunksShift];

namespace {

// Never destroyed: threads may update metrics during static destruction.
struct State {
  std::mutex reader_mutex;  // held by scrapes and by release(); writers never take it

  std::mutex allocator_mutex;  // offsets and chunk allocation
  std::uint32_t next_offset = 0;
  std::map<std::uint32_t, std::vector<std::uint32_t>> free_ranges;  // width -> offsets
  std::atomic<std::size_t> allocated_bytes{0};

  // Rows that hold a chunk, append-only, so a scrape visits only those (2 on a 2-CPU machine)
  // and reads the list without a lock.
  std::atomic<std::uint32_t> rows_in_use{0};
  std::atomic<std::uint32_t> used_rows[kRows] = {};
  bool row_listed[kRows] = {};  // under allocator_mutex

  std::atomic<std::uint32_t> next_stripe{0};
};

State& state() {
  static State* s = new State();
  return *s;
}

std::atomic_ref<Cell*> slot(std::uint32_t row, std::uint32_t chunk_index) {
  return std::atomic_ref<Cell*>(g_chunk_table[(row << kMaxChunksShift) | chunk_index]);
}

Cell* ensure_chunk(std::uint32_t row, std::uint32_t chunk_index) noexcept {
  std::atomic_ref<Cell*> entry = slot(row, chunk_index);
  if (Cell* chunk = entry.load(std::memory_order_acquire)) return chunk;
  State& s = state();
  std::lock_guard lock(s.allocator_mutex);
  if (Cell* chunk = entry.load(std::memory_order_acquire)) return chunk;
  // operator new may throw; an update cannot report it, and a process out of memory for
  // 32 KiB is past saving.
  Cell* chunk =
      static_cast<Cell*>(::operator new (sizeof(Cell) * kChunkCells, std::align_val_t{64}));
  for (std::uint32_t i = 0; i < kChunkCells; ++i) new (&chunk[i]) Cell(0);  // 0 is also +0.0
  entry.store(chunk, std::memory_order_release);
  s.allocated_bytes.fetch_add(sizeof(Cell) * kChunkCells, std::memory_order_relaxed);
  if (!s.row_listed[row]) {
    s.row_listed[row] = true;
    const std::uint32_t n = s.rows_in_use.load(std::memory_order_relaxed);
    s.used_rows[n].store(row, std::memory_order_relaxed);
    s.rows_in_use.store(n + 1, std::memory_order_release);
  }
  return chunk;
}

#if defined(MONITORING_CELLS_RSEQ)
// The CPU number the kernel keeps in this thread's rseq area; negative when the thread is
// not registered.
std::int32_t rseq_cpu() noexcept {
  const auto* area = reinterpret_cast<const volatile std::int32_t*>(
      static_cast<const char*>(__builtin_thread_pointer()) + __rseq_offset);
  return area[1];  // struct rseq: cpu_id_start, cpu_id, ...
}
#endif

std::uint32_t stripe_row() noexcept {
#if defined(MONITORING_CELLS_RSEQ)
  // Without rseq a thread picks its stripe by its CPU number, so threads on different CPUs
  // rarely share a cache line.
  const int cpu = sched_getcpu();
  return kMaxCpus + static_cast<std::uint32_t>(cpu < 0 ? 0 : cpu) % kStripes;
#else
  std::uint32_t stripe = tls_stripe;
  if (stripe == 0) stripe = assign_stripe();
  return kMaxCpus + stripe - 1;
#endif
}

Cell& striped(std::uint32_t offset) noexcept {
  Cell* chunk = ensure_chunk(stripe_row(), offset >> kChunkShift);
  return chunk[offset & (kChunkCells - 1)];
}

}  // namespace

#if !defined(MONITORING_CELLS_RSEQ)
thread_local constinit std::uint32_t tls_stripe = 0;

std::uint32_t assign_stripe() noexcept {
  tls_stripe = state().next_stripe.fetch_add(1, std::memory_order_relaxed) % kStripes + 1;
  return tls_stripe;
}
#endif

bool add_count_slow(std::uint32_t offset, std::uint64_t delta) noexcept {
#if defined(MONITORING_CELLS_RSEQ)
  const std::int32_t cpu = rseq_cpu();
  if (cpu >= 0 && cpu < static_cast<std::int32_t>(kMaxCpus)) {
    ensure_chunk(static_cast<std::uint32_t>(cpu), offset >> kChunkShift);
    return true;  // the sequence succeeds now (or lands here again for the next CPU)
  }
#endif
  striped(offset).fetch_add(delta, std::memory_order_relaxed);
  return false;
}

bool add_real_slow(std::uint32_t offset, double delta) noexcept {
#if defined(MONITORING_CELLS_RSEQ)
  const std::int32_t cpu = rseq_cpu();
  if (cpu >= 0 && cpu < static_cast<std::int32_t>(kMaxCpus)) {
    ensure_chunk(static_cast<std::uint32_t>(cpu), offset >> kChunkShift);
    return true;
  }
#endif
  Cell& cell = striped(offset);
  std::uint64_t seen = cell.load(std::memory_order_relaxed);
  while (!cell.compare_exchange_weak(
      seen, std::bit_cast<std::uint64_t>(std::bit_cast<double>(seen) + delta),
      std::memory_order_relaxed)) {
  }
  return false;
}

CellMode cell_mode() noexcept {
#if defined(MONITORING_CELLS_RSEQ)
  if (__rseq_size > 0 && rseq_cpu() >= 0) return CellMode::kPerCpuRseq;
#endif
  return CellMode::kStripedAtomic;
}

namespace {

template <class Visit>
void for_each_row_cells(std::uint32_t offset, Visit&& visit) {
  const State& s = state();
  const std::uint32_t rows = s.rows_in_use.load(std::memory_order_acquire);
  for (std::uint32_t i = 0; i < rows; ++i) {
    const std::uint32_t row = s.used_rows[i].load(std::memory_order_relaxed);
    if (Cell* chunk = slot(row, offset >> kChunkShift).load(std::memory_order_acquire))
      visit(chunk + (offset & (kChunkCells - 1)));
  }
}

void sum_rows(std::uint32_t offset, std::uint32_t width, std::uint32_t first_real, double* out) {
  // Counts are summed as integers (exact past 2^53 per row) and converted once.
  std::uint64_t counts[64];
  const std::uint32_t count_cells = first_real < 64 ? first_real : 64;
  std::fill(counts, counts + count_cells, 0);
  std::fill(out, out + width, 0.0);
  for_each_row_cells(offset, [&](const Cell* cells) {
    for (std::uint32_t i = 0; i < width; ++i) {
      const std::uint64_t raw = cells[i].load(std::memory_order_relaxed);
      if (i < count_cells)
        counts[i] += raw;
      else if (i < first_real)
        out[i] += static_cast<double>(raw);
      else
        out[i] += std::bit_cast<double>(raw);
    }
  });
  for (std::uint32_t i = 0; i < count_cells; ++i) out[i] += static_cast<double>(counts[i]);
}

thread_local bool tls_holds_reader = false;

}  // namespace

std::uint32_t CellSpace::allocate(std::uint32_t width, std::uint32_t first_real) {
  (void)first_real;  // every cell starts as zero bits, which is 0 and +0.0 alike
  if (width == 0) return 0;
  State& s = state();
  std::lock_guard lock(s.allocator_mutex);
  auto it = s.free_ranges.find(width);
  if (it != s.free_ranges.end() && !it->second.empty()) {
    const std::uint32_t offset = it->second.back();
    it->second.pop_back();
    return offset;
  }
  if (width > kChunkCells)
    throw MetricError("metric series needs " + std::to_string(width) +
                      " cells, more than the maximum of " + std::to_string(kChunkCells));
  std::uint32_t offset = s.next_offset;
  const std::uint32_t room = kChunkCells - (offset & (kChunkCells - 1));
  if (room < width) offset += room;  // a series never straddles two chunks
  if (static_cast<std::uint64_t>(offset) + width >
      static_cast<std::uint64_t>(kChunkCells) * kMaxChunks)
    throw MetricError("metric cell space exhausted (" + std::to_string(kChunkCells * kMaxChunks) +
                      " cells); too many series");
  s.next_offset = offset + width;
  return offset;
}

void CellSpace::release(std::uint32_t offset, std::uint32_t width) {
  if (width == 0) return;
  State& s = state();
  {
    std::unique_lock lock(s.reader_mutex, std::defer_lock);
    if (!tls_holds_reader) lock.lock();
    for_each_row_cells(offset, [&](Cell* cells) {
      for (std::uint32_t i = 0; i < width; ++i) cells[i].store(0, std::memory_order_relaxed);
    });
  }
  std::lock_guard lock(s.allocator_mutex);
  s.free_ranges[width].push_back(offset);
}

void CellSpace::sum(std::uint32_t offset, std::uint32_t width, std::uint32_t first_real,
                    double* out) {
  if (tls_holds_reader) return sum_rows(offset, width, first_real, out);
  std::lock_guard lock(state().reader_mutex);
  sum_rows(offset, width, first_real, out);
}

std::size_t CellSpace::allocated_bytes() noexcept {
  return state().allocated_bytes.load(std::memory_order_relaxed);
}

std::uint32_t CellSpace::rows_in_use() noexcept {
  return state().rows_in_use.load(std::memory_order_acquire);
}

CellSpace::Reader::Reader() : owner_(!tls_holds_reader) {
  if (!owner_) return;
  state().reader_mutex.lock();
  tls_holds_reader = true;
}

CellSpace::Reader::~Reader() {
  if (!owner_) return;
  tls_holds_reader = false;
  state().reader_mutex.unlock();
}

}  // namespace monitoring::metrics::detail
