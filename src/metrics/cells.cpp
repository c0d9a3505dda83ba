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
  Cell* chunk = static_cast<Cell*>(::operator new(sizeof(Cell) * kChunkCells, std::align_val_t{64}));
  for (std::uint32_t i = 0; i < kChunkCells; ++i) new (&chunk[i]) Cell(0.0);
  return chunk;
}

void delete_chunk(Cell* chunk) { ::operator delete(chunk, std::align_val_t{64}); }

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

  std::mutex allocator_mutex;  // guards the offset allocator only (never held with the above)
  std::uint32_t next_offset = 0;
  std::map<std::uint32_t, std::vector<std::uint32_t>> free_ranges;  // width -> offsets
};

State& state() {
  static State* s = new State();
  return *s;
}

Cell* chunk_of(const ThreadArena* arena, std::uint32_t offset) {
  return arena->chunks[offset >> kChunkShift].load(std::memory_order_acquire);
}

double sum_locked(const State& s, std::uint32_t offset) {
  double total = 0;
  auto add = [&](const ThreadArena* arena) {
    if (const Cell* chunk = chunk_of(arena, offset))
      total += chunk[offset & (kChunkCells - 1)].load(std::memory_order_relaxed);
  };
  add(s.retired);
  for (const ThreadArena* arena : s.live) add(arena);
  return total;
}

void sum_locked(const State& s, std::uint32_t offset, std::uint32_t width, double* out) {
  std::fill(out, out + width, 0.0);
  auto add = [&](const ThreadArena* arena) {
    if (const Cell* chunk = chunk_of(arena, offset)) {
      const Cell* cells = chunk + (offset & (kChunkCells - 1));
      for (std::uint32_t i = 0; i < width; ++i) out[i] += cells[i].load(std::memory_order_relaxed);
    }
  };
  add(s.retired);
  for (const ThreadArena* arena : s.live) add(arena);
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
          const double v = chunk[i].load(std::memory_order_relaxed);
          if (v != 0) target[i].store(target[i].load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
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

std::uint32_t CellSpace::allocate(std::uint32_t width) {
  if (width == 0) return 0;
  State& s = state();
  std::lock_guard lock(s.allocator_mutex);
  auto it = s.free_ranges.find(width);
  if (it != s.free_ranges.end() && !it->second.empty()) {
    const std::uint32_t offset = it->second.back();
    it->second.pop_back();
    return offset;
  }
  if (width > kChunkCells) throw MetricError("metric series needs " + std::to_string(width) + " cells, more than the maximum of " + std::to_string(kChunkCells));
  std::uint32_t offset = s.next_offset;
  const std::uint32_t room = kChunkCells - (offset & (kChunkCells - 1));
  if (room < width) offset += room;  // a series never straddles two chunks
  if (static_cast<std::uint64_t>(offset) + width > static_cast<std::uint64_t>(kChunkCells) * kMaxChunks)
    throw MetricError("metric cell space exhausted (" + std::to_string(kChunkCells * kMaxChunks) + " cells); too many series");
  s.next_offset = offset + width;
  return offset;
}

void CellSpace::release(std::uint32_t offset, std::uint32_t width) {
  if (width == 0) return;
  State& s = state();
  {
    std::lock_guard lock(s.arenas_mutex);
    auto zero = [&](ThreadArena* arena) {
      if (Cell* chunk = chunk_of(arena, offset)) {
        Cell* cells = chunk + (offset & (kChunkCells - 1));
        for (std::uint32_t i = 0; i < width; ++i) cells[i].store(0.0, std::memory_order_relaxed);
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

double CellSpace::sum(std::uint32_t offset) {
  State& s = state();
  if (tls_holds_reader) return sum_locked(s, offset);
  std::lock_guard lock(s.arenas_mutex);
  return sum_locked(s, offset);
}

void CellSpace::sum(std::uint32_t offset, std::uint32_t width, double* out) {
  State& s = state();
  if (tls_holds_reader) return sum_locked(s, offset, width, out);
  std::lock_guard lock(s.arenas_mutex);
  sum_locked(s, offset, width, out);
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
