#include "monitoring/metrics/detail/cells.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "monitoring/error.hpp"

namespace monitoring::metrics::detail {

constinit thread_local ThreadArena* tls_arena = nullptr;

namespace {

Cell* new_chunk() {
  Cell* chunk =
      static_cast<Cell*>(::operator new (sizeof(Cell) * kChunkCells, std::align_val_t{64}));
  for (std::uint32_t i = 0; i < kChunkCells; ++i) new (&chunk[i]) Cell(0);  // 0 is also +0.0
  return chunk;
}

void delete_chunk(Cell* chunk) {
  ::operator delete (chunk, std::align_val_t{64});
}

void free_arena(ThreadArena* arena) {
  for (auto& slot : arena->chunks) {
    if (Cell* chunk = slot.load(std::memory_order_relaxed)) delete_chunk(chunk);
  }
  delete arena;
}

// Never destroyed: threads may exit (and retire their arenas) during static destruction.
struct State {
  std::mutex arenas_mutex;  // guards `live`, `retired`; held by scrapes
  std::vector<ThreadArena*> live;
  ThreadArena* retired = new ThreadArena();  // totals of exited threads

  std::mutex allocator_mutex;  // guards the allocator; taken inside arenas_mutex, never around it
  std::uint32_t next_offset = 0;
  std::map<std::uint32_t, std::vector<std::uint32_t>> free_ranges;  // width -> offsets
  std::vector<std::uint64_t> real_cells;  // one bit per cell: holds a double (retirement needs it)

  bool is_real(std::uint32_t offset) const {
    const std::size_t word = offset / 64;
    return word < real_cells.size() && ((real_cells[word] >> (offset % 64)) & 1u) != 0;
  }
  void mark(std::uint32_t offset, bool real) {
    const std::size_t word = offset / 64;
    if (word >= real_cells.size()) real_cells.resize(word + 1 + real_cells.size() / 2, 0);
    const std::uint64_t bit = std::uint64_t{1} << (offset % 64);
    real_cells[word] = real ? (real_cells[word] | bit) : (real_cells[word] & ~bit);
  }
};

State& state() {
  static State* s = new State();
  return *s;
}

Cell* chunk_of(const ThreadArena* arena, std::uint32_t offset) {
  return arena->chunks[offset >> kChunkShift].load(std::memory_order_acquire);
}

void sum_locked(const State& s, std::uint32_t offset, std::uint32_t width, std::uint32_t first_real,
                double* out) {
  // Counts are summed as integers (exact past 2^53 per thread) and converted once.
  std::uint64_t counts[64];
  const std::uint32_t count_cells = first_real < 64 ? first_real : 64;
  std::fill(counts, counts + count_cells, 0);
  std::fill(out, out + width, 0.0);
  auto add = [&](const ThreadArena* arena) {
    if (const Cell* chunk = chunk_of(arena, offset)) {
      const Cell* cells = chunk + (offset & (kChunkCells - 1));
      for (std::uint32_t i = 0; i < width; ++i) {
        const std::uint64_t raw = cells[i].load(std::memory_order_relaxed);
        if (i < count_cells)
          counts[i] += raw;
        else if (i < first_real)
          out[i] += static_cast<double>(raw);
        else
          out[i] += std::bit_cast<double>(raw);
      }
    }
  };
  add(s.retired);
  for (const ThreadArena* arena : s.live) add(arena);
  for (std::uint32_t i = 0; i < count_cells; ++i) out[i] += static_cast<double>(counts[i]);
}

// Folds the exiting thread's arena into the retired totals.
struct ArenaRetirer {
  bool armed = false;
  ~ArenaRetirer() {
    if (!armed) return;
    ThreadArena* arena = tls_arena;
    if (arena == nullptr) return;
    tls_arena = nullptr;
    State& s = state();
    {
      std::lock_guard lock(s.arenas_mutex);
      std::lock_guard kinds(s.allocator_mutex);
      for (std::uint32_t c = 0; c < kMaxChunks; ++c) {
        Cell* chunk = arena->chunks[c].load(std::memory_order_relaxed);
        if (chunk == nullptr) continue;
        Cell* target = s.retired->chunks[c].load(std::memory_order_relaxed);
        if (target == nullptr) {
          // Hand the whole chunk over instead of copying it.
          s.retired->chunks[c].store(chunk, std::memory_order_release);
          arena->chunks[c].store(nullptr, std::memory_order_relaxed);
          continue;
        }
        for (std::uint32_t i = 0; i < kChunkCells; ++i) {
          const std::uint64_t raw = chunk[i].load(std::memory_order_relaxed);
          if (raw == 0) continue;
          if (s.is_real(c * kChunkCells + i))
            add_real(target[i], std::bit_cast<double>(raw));
          else
            add_count(target[i], raw);
        }
      }
      s.live.erase(std::find(s.live.begin(), s.live.end(), arena));
    }
    free_arena(arena);
  }
};

thread_local ArenaRetirer retirer;

}  // namespace

ThreadArena* attach_current_thread() {
  auto* arena = new ThreadArena();
  State& s = state();
  {
    std::lock_guard lock(s.arenas_mutex);
    s.live.push_back(arena);
  }
  tls_arena = arena;
  retirer.armed = true;  // first use constructs it, so its destructor runs at thread exit
  return arena;
}

Cell* allocate_chunk(ThreadArena* arena, std::uint32_t chunk_index) {
  if (chunk_index >= kMaxChunks) std::terminate();  // allocate() refuses offsets past the space
  Cell* chunk = new_chunk();
  arena->chunks[chunk_index].store(chunk, std::memory_order_release);
  return chunk;
}

std::uint32_t CellSpace::allocate(std::uint32_t width, std::uint32_t first_real) {
  if (width == 0) return 0;
  State& s = state();
  std::lock_guard lock(s.allocator_mutex);
  auto mark = [&](std::uint32_t offset) {
    for (std::uint32_t i = 0; i < width; ++i) s.mark(offset + i, i >= first_real);
    return offset;
  };
  auto it = s.free_ranges.find(width);
  if (it != s.free_ranges.end() && !it->second.empty()) {
    const std::uint32_t offset = it->second.back();
    it->second.pop_back();
    return mark(offset);
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
  return mark(offset);
}

void CellSpace::release(std::uint32_t offset, std::uint32_t width) {
  if (width == 0) return;
  State& s = state();
  {
    std::lock_guard lock(s.arenas_mutex);
    auto zero = [&](ThreadArena* arena) {
      if (Cell* chunk = chunk_of(arena, offset)) {
        Cell* cells = chunk + (offset & (kChunkCells - 1));
        for (std::uint32_t i = 0; i < width; ++i) cells[i].store(0, std::memory_order_relaxed);
      }
    };
    zero(s.retired);
    for (ThreadArena* arena : s.live) zero(arena);
  }
  std::lock_guard lock(s.allocator_mutex);
  s.free_ranges[width].push_back(offset);
}

namespace {
thread_local bool tls_holds_reader = false;
}

void CellSpace::sum(std::uint32_t offset, std::uint32_t width, std::uint32_t first_real,
                    double* out) {
  State& s = state();
  if (tls_holds_reader) return sum_locked(s, offset, width, first_real, out);
  std::lock_guard lock(s.arenas_mutex);
  sum_locked(s, offset, width, first_real, out);
}

CellSpace::Reader::Reader() : owner_(!tls_holds_reader) {
  if (!owner_) return;
  state().arenas_mutex.lock();
  tls_holds_reader = true;
}

CellSpace::Reader::~Reader() {
  if (!owner_) return;
  tls_holds_reader = false;
  state().arenas_mutex.unlock();
}

}  // namespace monitoring::metrics::detail
