#pragma once

// A bounded single-producer / single-consumer byte ring for variable-size records.
//
// Records are 8-byte aligned and never wrap: when one does not fit before the end, the
// producer writes a padding record up to the end and starts again at offset 0. Positions
// are 64-bit counters that only grow (offset = position & mask). Each side keeps a cached
// copy of the other side's position and reloads the shared atomic only when the cache says
// "full" (producer) or "empty" (consumer), so in steady state neither touches the other's
// cache line. Release/acquire on the two positions publishes the bytes.

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace monitoring::logging::detail {

inline constexpr std::size_t kCacheLine = 64;

/// First 8 bytes of every record in a ring.
struct ChunkHeader {
  std::uint32_t size;  // bytes of the whole record, header included, multiple of 8
  std::uint8_t kind;   // RecordKind
  std::uint8_t level;
  std::uint8_t flags;
  std::uint8_t reserved;
};
inline constexpr std::uint8_t kKindPad = 0;

/// Ring storage straight from the kernel, so that its pages can be faulted in before the
/// producer writes: a fresh 1 MiB ring takes 256 page faults of microseconds each, which
/// would otherwise land on a thread's first ~10 000 log calls. `populate` faults them all in
/// now (MAP_POPULATE). nullptr when out of memory.
inline std::byte* map_ring_memory(std::size_t capacity, bool populate) noexcept {
  void* memory = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0), -1, 0);
  return memory == MAP_FAILED ? nullptr : static_cast<std::byte*>(memory);
}
inline void unmap_ring_memory(std::byte* memory, std::size_t capacity) noexcept {
  if (memory != nullptr) ::munmap(memory, capacity);
}

class SpscRing {
 public:
  /// Takes ownership of `memory` (from map_ring_memory, `capacity` bytes, a power of two).
  SpscRing(std::size_t capacity, std::byte* memory) {
    if (memory == nullptr) throw std::bad_alloc();
    producer_.data = consumer_.data = memory;
    producer_.mask = consumer_.mask = capacity - 1;
  }
  ~SpscRing() { unmap_ring_memory(producer_.data, capacity()); }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  /// Read from the consumer's line: the backend asks per record, and reading the producer's
  /// line would pull it away from the thread writing it (the log call's rare sizing path
  /// pays that instead).
  std::size_t capacity() const noexcept { return consumer_.mask + 1; }

  // ---- producer side ----

  /// Room for `size` bytes (a multiple of 8, at most capacity/2), or nullptr when full.
  std::byte* try_reserve(std::uint32_t size) noexcept {
    std::uint64_t position = producer_.write;
    const std::size_t capacity = producer_.mask + 1;
    const std::size_t offset = position & producer_.mask;
    std::size_t pad = 0;
    if (offset + size > capacity) pad = capacity - offset;
    const std::uint64_t needed_end = position + pad + size;
    if (needed_end - producer_.cached_read > capacity) {
      producer_.cached_read = read_.load(std::memory_order_acquire);
      if (needed_end - producer_.cached_read > capacity) return nullptr;
    }
    if (pad != 0) {
      const ChunkHeader header{static_cast<std::uint32_t>(pad), kKindPad, 0, 0, 0};
      std::memcpy(producer_.data + offset, &header, sizeof header);
      position += pad;
      producer_.write = position;
    }
    return producer_.data + (position & producer_.mask);
  }

  /// Bytes written so far (the producer's own view, committed records only).
  std::uint64_t producer_position() const noexcept { return producer_.write; }

  /// Publishes the `size` bytes written at the last try_reserve.
  void commit(std::uint32_t size) noexcept {
    producer_.write += size;
    write_.store(producer_.write, std::memory_order_release);
  }

  // ---- consumer side ----

  /// Everything published so far ends here.
  std::uint64_t published_end() const noexcept { return write_.load(std::memory_order_acquire); }
  std::uint64_t consumer_position() const noexcept { return consumer_.read; }
  const std::byte* at(std::uint64_t position) const noexcept {
    return consumer_.data + (position & consumer_.mask);
  }
  std::byte* at(std::uint64_t position) noexcept {
    return consumer_.data + (position & consumer_.mask);
  }
  /// Marks bytes up to `position` consumed (locally; release() hands them back).
  void advance_to(std::uint64_t position) noexcept { consumer_.read = position; }
  /// Lets the producer reuse everything consumed so far.
  void release() noexcept { read_.store(consumer_.read, std::memory_order_release); }
  /// Everything before it was consumed and handed back; any thread may read it.
  std::uint64_t released_position() const noexcept { return read_.load(std::memory_order_acquire); }

  /// Hands the storage (its pages already faulted in) to a new ring; this ring must not be
  /// used afterwards.
  std::byte* take_memory() noexcept {
    consumer_.data = nullptr;
    return std::exchange(producer_.data, nullptr);
  }

  /// A word the producer keeps on its own cache line beside its position (the log queue:
  /// the context last sent), so that the log call reads no other line of the queue.
  std::uint64_t& producer_word() noexcept { return producer_.word; }

 private:
  // Each side's line holds everything its path reads (a copy of the storage and mask each),
  // so that a log call touches two lines of the ring besides the record's bytes: after a
  // thread sleeps, each line it touches may be a cache miss (the first call of a burst).
  struct alignas(kCacheLine) ProducerSide {
    std::byte* data = nullptr;
    std::size_t mask = 0;
    std::uint64_t write = 0;
    std::uint64_t cached_read = 0;
    std::uint64_t word = 0;
  } producer_;
  alignas(kCacheLine) std::atomic<std::uint64_t> write_{0};
  alignas(kCacheLine) std::atomic<std::uint64_t> read_{0};
  struct alignas(kCacheLine) ConsumerSide {
    std::byte* data = nullptr;
    std::size_t mask = 0;
    std::uint64_t read = 0;
  } consumer_;
};

}  // namespace monitoring::logging::detail
