#pragma once

// Per-thread value cells behind counters and histograms.
//
// Every thread that updates a metric gets its own arena of cells; a series owns a small range
// of cell offsets that is the same in every arena. An update touches only the calling
// thread's cell, so it is a plain load and store (no lock prefix, no CAS, no shared cache
// line): that is what keeps a bound increment near 1 ns and makes two threads as fast as
// one. A scrape sums the cell over all arenas; a thread that exits folds its arena into the
// "retired" totals so nothing is lost.
//
// Cells are 64-bit atomics accessed with relaxed order: the owner's load+store compiles to
// plain moves on x86-64 and AArch64, and the scraper's concurrent reads stay data-race free.
// A cell holds either an integer count or the bits of a double: counts are integers because
// an integer load-add-store chain through memory is ~10x cheaper than a floating-point one
// (0.27 ns vs 2.7 ns per dependent increment, measured on the CI machine).

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace monitoring::metrics::detail {

using Cell = std::atomic<std::uint64_t>;

inline constexpr std::uint32_t kChunkShift = 12;
inline constexpr std::uint32_t kChunkCells = 1u << kChunkShift;  // 32 KiB of doubles
inline constexpr std::uint32_t kMaxChunks = 1024;                // 4 Mi cells in all

/// The cells one thread writes. Chunks are allocated on first touch and published with
/// release order so a concurrent scrape sees zeroed memory, never garbage.
struct ThreadArena {
  std::atomic<Cell*> chunks[kMaxChunks] = {};
};

/// Slow paths, out of line: attach the calling thread, allocate a chunk.
ThreadArena* attach_current_thread();
Cell* allocate_chunk(ThreadArena* arena, std::uint32_t chunk_index);

// constinit: no dynamic initialization, so callers access it without a TLS wrapper call.
extern thread_local constinit ThreadArena* tls_arena;

/// The calling thread's cell at `offset`.
[[gnu::always_inline]] inline Cell& local_cell(std::uint32_t offset) {
  ThreadArena* arena = tls_arena;
  if (__builtin_expect(arena == nullptr, 0)) arena = attach_current_thread();
  const std::uint32_t chunk_index = offset >> kChunkShift;
  Cell* chunk = arena->chunks[chunk_index].load(std::memory_order_relaxed);
  if (__builtin_expect(chunk == nullptr, 0)) chunk = allocate_chunk(arena, chunk_index);
  return chunk[offset & (kChunkCells - 1)];
}

/// Single-writer adds: only the owning thread writes its cell, so load+store is exact.
[[gnu::always_inline]] inline void add_count(Cell& cell, std::uint64_t delta) {
  cell.store(cell.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}
[[gnu::always_inline]] inline void add_real(Cell& cell, double delta) {
  const double current = std::bit_cast<double>(cell.load(std::memory_order_relaxed));
  cell.store(std::bit_cast<std::uint64_t>(current + delta), std::memory_order_relaxed);
}

/// The process-wide allocator of cell offsets and the list of live arenas.
class CellSpace {
 public:
  /// Reserves `width` consecutive cells that do not cross a chunk boundary, all zero. Cells
  /// [0, first_real) hold integer counts, [first_real, width) doubles.
  static std::uint32_t allocate(std::uint32_t width, std::uint32_t first_real);
  /// Zeroes the cells in every arena and makes the range reusable. The caller guarantees
  /// no thread still updates it.
  static void release(std::uint32_t offset, std::uint32_t width);
  /// Sums `width` cells starting at `offset` over all arenas (live and retired) into `out`,
  /// counts as integers, [first_real, width) as doubles. Takes the arena lock unless the
  /// calling thread holds a Reader.
  static void sum(std::uint32_t offset, std::uint32_t width, std::uint32_t first_real, double* out);

  /// Holds the arena lock for a whole scrape: every series is summed over one stable set of
  /// arenas and `sum` skips the per-call lock. Nestable on one thread.
  class Reader {
   public:
    Reader();
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

   private:
    bool owner_;
  };
};

}  // namespace monitoring::metrics::detail
