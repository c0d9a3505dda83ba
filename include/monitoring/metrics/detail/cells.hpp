#pragma once

// Per-CPU value cells behind counters and histograms.
//
// A series owns a small range of cell offsets. Every CPU has its own row of cells at those
// offsets; an update adds to the row of the CPU it runs on, and a scrape sums the rows. So
// memory and scrape time grow with series x CPUs, never with the number of threads: 64 or
// 600 threads on 2 CPUs cost what 2 threads cost, and a thread that exits leaves nothing
// behind to fold or reclaim.
//
// An update must not be torn by a migration to another CPU between reading the CPU number and
// writing the cell, and a lock prefix (~6 ns) would cost 5x the budget. Restartable sequences
// (rseq, Linux 4.18; glibc 2.35+ registers every thread) give both: the update runs as a
// critical section the kernel restarts if the thread is preempted, migrated or signalled
// before its final store. Counts commit with one `add` to memory, doubles with a load, add
// and store. This is the technique of tcmalloc's per-CPU caches and of the kernel's
// this_cpu_add, and keeps a bound increment near 1 ns with no shared cache line.
//
// Where rseq is not available (not x86-64, ThreadSanitizer builds, a kernel or seccomp
// profile that refuses it, GLIBC_TUNABLES=glibc.pthread.rseq=0) updates go to a few striped
// rows with atomic adds instead: correct, about 5x slower, and still bounded in memory. The
// two kinds of rows never mix: rseq rows are written only by rseq sequences, striped rows
// only by atomics.
//
// Cells are 64-bit atomics: the scraper reads them with relaxed loads while their CPU writes.
// A cell holds either an integer count or the bits of a double: counts are integers because
// an integer add through memory is ~10x cheaper than a floating-point one (0.27 ns vs 2.7 ns
// per dependent increment, measured on the CI machine).

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MONITORING_CELLS_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define MONITORING_CELLS_TSAN 1
#endif

// ThreadSanitizer cannot see inside inline assembly, so its builds take the atomic path, which
// it checks.
#if defined(__x86_64__) && defined(__linux__) && !defined(MONITORING_CELLS_TSAN)
#define MONITORING_CELLS_RSEQ 1
#include <sys/rseq.h>  // __rseq_offset: where glibc keeps each thread's struct rseq
#endif

namespace monitoring::metrics::detail {

using Cell = std::atomic<std::uint64_t>;

inline constexpr std::uint32_t kChunkShift = 12;
inline constexpr std::uint32_t kChunkCells = 1u << kChunkShift;  // 32 KiB of cells
inline constexpr std::uint32_t kMaxChunksShift = 10;
inline constexpr std::uint32_t kMaxChunks = 1u << kMaxChunksShift;  // 4 Mi cells in all

/// Rows [0, kMaxCpus) belong to CPUs and are written by rseq sequences; the kStripes rows
/// after them are shared by threads without rseq and written with atomic adds.
inline constexpr std::uint32_t kMaxCpus = 512;
inline constexpr std::uint32_t kStripes = 8;
inline constexpr std::uint32_t kRows = kMaxCpus + kStripes;

/// Chunk pointers of every row, row-major: [row << kMaxChunksShift | chunk]. A plain array,
/// so it is zero before any code runs (usable from any static initializer; an array of
/// std::atomic would need its constructor run); accessed through std::atomic_ref. 4 MiB of
/// address space, of which only the rows of CPUs that ran an update are ever touched. Chunks
/// are allocated on first use and published with release order, so a scrape sees zeroed
/// memory, never garbage.
extern Cell* g_chunk_table[kRows << kMaxChunksShift];

/// Slow paths, out of line. On an rseq row they make sure the chunk exists and return true
/// (retry the sequence); otherwise they do the update atomically on a striped row and return
/// false.
bool add_count_slow(std::uint32_t offset, std::uint64_t delta) noexcept;
bool add_real_slow(std::uint32_t offset, double delta) noexcept;

#if !defined(MONITORING_CELLS_RSEQ)
/// The calling thread's stripe, assigned round-robin on its first update.
std::uint32_t assign_stripe() noexcept;
extern thread_local constinit std::uint32_t tls_stripe;  // 0 = not assigned; else stripe + 1
[[gnu::always_inline]] inline Cell* striped_cell(std::uint32_t offset) {
  std::uint32_t stripe = tls_stripe;
  if (__builtin_expect(stripe == 0, 0)) stripe = assign_stripe();
  const std::uint32_t row = kMaxCpus + stripe - 1;
  Cell* chunk =
      std::atomic_ref<Cell*>(g_chunk_table[(row << kMaxChunksShift) | (offset >> kChunkShift)])
          .load(std::memory_order_acquire);
  return chunk == nullptr ? nullptr : chunk + (offset & (kChunkCells - 1));
}
#endif

// The rseq critical-section descriptor (struct rseq_cs: version, flags, start_ip,
// post_commit_offset, abort_ip) and the abort handler, which the kernel requires to be
// preceded by the signature glibc registered (0x53053053 on x86-64, encoded as an ud1 so a
// disassembler stays in step). Labels: 1 start, 2 after the commit, 3 descriptor, 4 abort.
#define MONITORING_RSEQ_PROLOGUE                              \
  ".pushsection __rseq_cs, \"aw?\"\n\t"                       \
  ".balign 32\n\t"                                            \
  "3:\n\t"                                                    \
  ".long 0, 0\n\t"                                            \
  ".quad 1f, 2f - 1f, 4f\n\t"                                 \
  ".popsection\n\t"                                           \
  ".pushsection __rseq_failure, \"ax?\"\n\t"                  \
  ".byte 0x0f, 0xb9, 0x3d\n\t"                                \
  ".long 0x53053053\n\t"                                      \
  "4:\n\t"                                                    \
  "jmp %l[retry]\n\t"                                         \
  ".popsection\n\t"                                           \
  "leaq 3b(%%rip), %%rax\n\t"                                 \
  "movq %%rax, %%fs:8(%[rseq])\n\t" /* rseq->rseq_cs */       \
  "1:\n\t"                                                    \
  "movl %%fs:4(%[rseq]), %%eax\n\t" /* rseq->cpu_id */        \
  "cmpl %[max_cpus], %%eax\n\t"     /* also catches -1, -2 */ \
  "jae %l[slow]\n\t"                                          \
  "shlq %[row_shift], %%rax\n\t"                              \
  "movq (%[chunks], %%rax, 8), %%rax\n\t"                     \
  "testq %%rax, %%rax\n\t"                                    \
  "jz %l[slow]\n\t"

/// Adds `delta` to the integer cell at `offset` in the current CPU's row.
[[gnu::always_inline]] inline void add_count(std::uint32_t offset, std::uint64_t delta) {
#if defined(MONITORING_CELLS_RSEQ)
  Cell* const* const chunks = g_chunk_table + (offset >> kChunkShift);
  const std::uintptr_t cell = offset & (kChunkCells - 1);
retry:
  asm goto(MONITORING_RSEQ_PROLOGUE
           // Through a plain (%rax) operand: x86 cores forward a store to the next load of
           // the same cell without the ~5-cycle store-forwarding latency only when the
           // address is a bare register (0.4 ns vs 1.9 ns per dependent increment).
           "leaq (%%rax, %[cell], 8), %%rax\n\t"
           "addq %[delta], (%%rax)\n\t"  // the commit: one instruction
           "2:\n\t"
           :
           : [rseq] "r"(__rseq_offset), [max_cpus] "i"(kMaxCpus), [row_shift] "i"(kMaxChunksShift),
             [chunks] "r"(chunks), [cell] "r"(cell), [delta] "er"(delta)
           : "cc", "rax"
           : retry, slow);
  return;
slow:
  if (add_count_slow(offset, delta)) goto retry;
#else
  if (Cell* cell = striped_cell(offset)) [[likely]]
    cell->fetch_add(delta, std::memory_order_relaxed);
  else
    add_count_slow(offset, delta);
#endif
}

/// Adds `delta` to the floating-point cell at `offset` in the current CPU's row.
[[gnu::always_inline]] inline void add_real(std::uint32_t offset, double delta) {
#if defined(MONITORING_CELLS_RSEQ)
  Cell* const* const chunks = g_chunk_table + (offset >> kChunkShift);
  const std::uintptr_t cell = offset & (kChunkCells - 1);
retry:
  asm goto(MONITORING_RSEQ_PROLOGUE
           "leaq (%%rax, %[cell], 8), %%rax\n\t"
           "movsd (%%rax), %%xmm15\n\t"
           "addsd %[delta], %%xmm15\n\t"
           "movsd %%xmm15, (%%rax)\n\t"  // the commit
           "2:\n\t"
           :
           : [rseq] "r"(__rseq_offset), [max_cpus] "i"(kMaxCpus), [row_shift] "i"(kMaxChunksShift),
             [chunks] "r"(chunks), [cell] "r"(cell), [delta] "x"(delta)
           : "cc", "rax", "xmm15"
           : retry, slow);
  return;
slow:
  if (add_real_slow(offset, delta)) goto retry;
#else
  if (Cell* cell = striped_cell(offset)) [[likely]] {
    std::uint64_t seen = cell->load(std::memory_order_relaxed);
    while (!cell->compare_exchange_weak(
        seen, std::bit_cast<std::uint64_t>(std::bit_cast<double>(seen) + delta),
        std::memory_order_relaxed)) {
    }
  } else {
    add_real_slow(offset, delta);
  }
#endif
}

#undef MONITORING_RSEQ_PROLOGUE

/// How updates reach the cells in this process, for tests and benchmarks.
enum class CellMode {
  kPerCpuRseq,    ///< per-CPU rows, restartable sequences
  kStripedAtomic  ///< striped rows, atomic adds (no rseq here)
};
CellMode cell_mode() noexcept;

/// The process-wide allocator of cell offsets and the reader side of the rows.
class CellSpace {
 public:
  /// Reserves `width` consecutive cells that do not cross a chunk boundary, all zero. Cells
  /// [0, first_real) hold integer counts, [first_real, width) doubles.
  static std::uint32_t allocate(std::uint32_t width, std::uint32_t first_real);
  /// Zeroes the cells in every row and makes the range reusable. The caller guarantees no
  /// thread still updates it.
  static void release(std::uint32_t offset, std::uint32_t width);
  /// Sums `width` cells starting at `offset` over all rows in use into `out`, counts as
  /// integers, [first_real, width) as doubles. Takes the reader lock unless the calling thread
  /// holds a Reader.
  static void sum(std::uint32_t offset, std::uint32_t width, std::uint32_t first_real, double* out);
  /// Bytes of cell chunks allocated so far, over all rows.
  static std::size_t allocated_bytes() noexcept;
  /// Rows that hold at least one chunk (CPUs that ran an update, stripes in use).
  static std::uint32_t rows_in_use() noexcept;

  /// Holds the reader lock for a whole scrape, so `release` cannot zero cells under it and
  /// `sum` skips the per-call lock. Writers never take it. Nestable on one thread.
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
