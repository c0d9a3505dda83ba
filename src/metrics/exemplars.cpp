// Exemplar storage of histogram series: the latest traced observation of each bucket.
//
// A series gets one slot per bucket (+Inf included) on its first observation under a trace;
// a series that never sees a trace costs one null pointer. The slots are shared by all
// threads, unlike the counting cells: "the latest exemplar" is a single value, and picking the
// latest of per-thread copies at scrape time would need a precise clock on the hot path.
//
// Each slot is a seqlock with a non-blocking writer. A writer takes the slot with one CAS
// (even -> odd sequence); when another writer holds it, this observation leaves no exemplar:
// the concurrent one is just as recent, and the observer never waits or loops. A scrape copies
// the slot and retries (a bounded number of times) when the sequence moved under it. Every
// field is an atomic written with release and read with acquire: a scrape that sees any byte
// of a newer write also sees the odd sequence that preceded it, and ThreadSanitizer, which
// does not model standalone fences, understands these orderings.

#include <time.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <new>
#include <string_view>

#include "monitoring/context.hpp"
#include "monitoring/metrics/histogram.hpp"

namespace monitoring::metrics {

namespace detail {

constexpr std::size_t kTextWords = kExemplarIdBytes / 8;
static_assert(kExemplarIdBytes % 8 == 0);

struct alignas(64) ExemplarSlot {
  std::atomic<std::uint64_t> sequence{0};  // odd while a writer is in; 0 = never written
  std::atomic<std::uint64_t> sizes{0};     // trace id bytes | span id bytes << 32
  std::atomic<std::uint64_t> value{0};     // bits of the observed double
  std::atomic<std::int64_t> timestamp_ms{0};
  std::atomic<std::uint64_t> text[kTextWords] = {};  // trace id, then span id
};
static_assert(sizeof(ExemplarSlot) == 128, "two cache lines per bucket");

}  // namespace detail

namespace {

using detail::ExemplarSlot;
using detail::kTextWords;

// Wall clock in milliseconds. The coarse clock reads a kernel-updated variable: ~7 ns instead
// of ~35 ns for CLOCK_REALTIME on the CI machine, at one tick (4 ms) of resolution, which is
// plenty to place an exemplar on a graph (Prometheus stores milliseconds).
std::int64_t now_ms() noexcept {
  timespec now{};
  clock_gettime(CLOCK_REALTIME_COARSE, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

void write_slot(ExemplarSlot& slot, double value, std::string_view trace_id,
                std::string_view span_id) noexcept {
  std::uint64_t sequence = slot.sequence.load(std::memory_order_relaxed);
  if ((sequence & 1) != 0) return;  // another writer is in: its exemplar is as recent as ours
  // Acquire: this write is ordered after the previous writer's, word by word.
  if (!slot.sequence.compare_exchange_strong(sequence, sequence + 1, std::memory_order_acquire,
                                             std::memory_order_relaxed))
    return;
  std::uint64_t words[kTextWords];
  const std::size_t size = trace_id.size() + span_id.size();
  std::memcpy(words, trace_id.data(), trace_id.size());
  if (!span_id.empty())
    std::memcpy(reinterpret_cast<char*>(words) + trace_id.size(), span_id.data(), span_id.size());
  if (size % 8 != 0)  // the tail of the last word: defined bytes, not stack garbage
    std::memset(reinterpret_cast<char*>(words) + size, 0, 8 - size % 8);
  slot.sizes.store(trace_id.size() | (std::uint64_t{span_id.size()} << 32),
                   std::memory_order_release);
  slot.value.store(std::bit_cast<std::uint64_t>(value), std::memory_order_release);
  slot.timestamp_ms.store(now_ms(), std::memory_order_release);
  for (std::size_t i = 0; i < (size + 7) / 8; ++i)
    slot.text[i].store(words[i], std::memory_order_release);
  slot.sequence.store(sequence + 2, std::memory_order_release);
}

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Copies a consistent state of `slot` into `out`; false (and `out` emptied) when the slot was
// never written or writers kept it busy through every attempt.
bool read_slot(const ExemplarSlot& slot, Exemplar& out) {
  constexpr int kAttempts = 64;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const std::uint64_t before = slot.sequence.load(std::memory_order_acquire);
    if (before == 0) break;
    if ((before & 1) != 0) {
      cpu_relax();  // a writer is in: it finishes within a few dozen stores
      continue;
    }
    const std::uint64_t sizes = slot.sizes.load(std::memory_order_acquire);
    const double value = std::bit_cast<double>(slot.value.load(std::memory_order_acquire));
    const std::int64_t timestamp_ms = slot.timestamp_ms.load(std::memory_order_acquire);
    // A torn read may see sizes of another write: clamp, then let the sequence check decide.
    const std::size_t trace_size = std::min<std::size_t>(sizes & 0xFFFFFFFFu, kExemplarIdBytes);
    const std::size_t span_size = std::min<std::size_t>(sizes >> 32, kExemplarIdBytes - trace_size);
    std::uint64_t words[kTextWords];
    for (std::size_t i = 0; i < (trace_size + span_size + 7) / 8; ++i)
      words[i] = slot.text[i].load(std::memory_order_acquire);
    // The acquire loads above keep this one after them.
    if (slot.sequence.load(std::memory_order_relaxed) != before) continue;
    const char* text = reinterpret_cast<const char*>(words);
    out.trace_id.assign(text, trace_size);
    out.span_id.assign(text + trace_size, span_size);
    out.value = value;
    out.timestamp_ms = timestamp_ms;
    return true;
  }
  out.trace_id.clear();
  out.span_id.clear();
  return false;
}

ExemplarSlot* allocate_slots(std::size_t count) noexcept {
  void* memory = ::operator new (sizeof(ExemplarSlot) * count,
                                 std::align_val_t{alignof(ExemplarSlot)}, std::nothrow);
  if (memory == nullptr) return nullptr;
  auto* slots = static_cast<ExemplarSlot*>(memory);
  for (std::size_t i = 0; i < count; ++i) new (&slots[i]) ExemplarSlot();
  return slots;
}

void free_slots(ExemplarSlot* slots) noexcept {
  // ExemplarSlot is trivially destructible (atomics of integers): no destructor calls needed.
  ::operator delete (slots, std::align_val_t{alignof(ExemplarSlot)});
}

}  // namespace

Histogram::~Histogram() {
  if (ExemplarSlot* slots = exemplars_.load(std::memory_order_relaxed)) free_slots(slots);
}

void Histogram::record_exemplar(std::uint32_t bucket, double value,
                                const monitoring::detail::ContextData& trace) noexcept {
  const std::string_view trace_id = trace.trace_id;
  std::string_view span_id = trace.span_id;
  if (trace_id.size() > kExemplarIdBytes) return;  // an id cut short would point nowhere
  if (trace_id.size() + span_id.size() > kExemplarIdBytes) span_id = {};
  ExemplarSlot* slots = exemplars_.load(std::memory_order_acquire);
  if (slots == nullptr) [[unlikely]] {
    // First traced observation of this series: publish a zeroed block; a thread that loses
    // the race frees its own and uses the winner's.
    ExemplarSlot* fresh = allocate_slots(bucket_count_ + 1);
    if (fresh == nullptr) return;  // exemplars are best effort; the count was recorded
    if (exemplars_.compare_exchange_strong(slots, fresh, std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
      slots = fresh;
    } else {
      free_slots(fresh);
    }
  }
  write_slot(slots[bucket], value, trace_id, span_id);
}

void Histogram::clear_exemplars() noexcept {
  if (ExemplarSlot* slots = exemplars_.exchange(nullptr, std::memory_order_acq_rel))
    free_slots(slots);
}

bool Histogram::read_exemplars(std::vector<Exemplar>& out) const {
  const ExemplarSlot* slots = exemplars_.load(std::memory_order_acquire);
  if (slots == nullptr) return false;
  out.resize(bucket_count_ + 1);
  for (std::uint32_t i = 0; i <= bucket_count_; ++i) read_slot(slots[i], out[i]);
  return true;
}

std::vector<Exemplar> Histogram::exemplars() const {
  std::vector<Exemplar> out(bucket_count_ + 1);
  read_exemplars(out);
  return out;
}

}  // namespace monitoring::metrics
