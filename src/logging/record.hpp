#pragma once

// The binary form of a log record in a producer queue, and the logger state it points to.
//
// Layout (all inside one ring chunk, 8-byte aligned):
//   LogHeader
//   message bytes
//   field_count x { FieldHeader, key bytes, value (8 bytes, or `stored` string bytes) }
//   if kFlagError: ErrorHeader, message bytes, frame_count x 8-byte return addresses
// Strings are stored up to a limit with their original length, so the backend can mark a
// truncation. Numbers are copied unaligned (memcpy), so no padding between fields.

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "monitoring/context.hpp"
#include "monitoring/logging/level.hpp"
#include "monitoring/logging/logger.hpp"
#include "ring.hpp"

namespace monitoring::logging::detail {

enum RecordKind : std::uint8_t {
  kKindLog = 1,
  kKindContext = 2,  // carries the producer thread's new context (a shared_ptr)
};
inline constexpr std::uint8_t kFlagError = 1;
// Below its logger's level, encoded for the backtrace: the backend keeps it, unwritten.
inline constexpr std::uint8_t kFlagKept = 2;
// From a static call site: the header's message sizes hold a `const StaticSite*` instead, and
// only the values follow (logger.cpp, encode_static).
inline constexpr std::uint8_t kFlagStatic = 4;

/// One immutable version of a logger's name and context. add_context publishes a new
/// version; older ones stay alive (chained through `older`) until the logger is destroyed,
/// because queued records may still point to them.
struct LoggerState {
  std::string name;
  std::vector<OwnedField> fields;  // without the service.* ones
  std::string service_name, service_version, service_environment;
  const LoggerState* older = nullptr;
};

/// Deletes a state and every older version (iteratively: chains can be long).
inline void delete_state_chain(const LoggerState* state) noexcept {
  while (state != nullptr) {
    const LoggerState* older = state->older;
    delete state;
    state = older;
  }
}

struct LogHeader {
  ChunkHeader chunk;
  std::uint64_t timestamp;  // clock ticks (see clock.hpp)
  const LoggerState* logger;
  std::uint32_t message_stored;
  std::uint32_t message_original;
  std::uint32_t field_count;
  std::uint32_t reserved;
};
static_assert(sizeof(LogHeader) == 40);

struct FieldHeader {
  std::uint8_t type;  // FieldValue::Type
  std::uint8_t reserved;
  std::uint16_t key_size;
  std::uint32_t stored;    // strings: bytes stored
  std::uint32_t original;  // strings: bytes before truncation
};
static_assert(sizeof(FieldHeader) == 12);

struct ErrorHeader {
  const char* type_name;  // mangled std::type_info name (static storage) or nullptr
  std::uint32_t message_stored;
  std::uint32_t message_original;
  std::uint32_t frame_count;
  std::uint32_t already_reported;  // 1: an earlier report claimed the exception's event
};
static_assert(sizeof(ErrorHeader) == 24);

struct ContextRecord {
  ChunkHeader chunk;
  std::shared_ptr<const monitoring::detail::ContextData> context;  // placement-new'ed
};

/// What exception() captured on the caller thread.
struct ErrorCapture {
  const char* type_name = nullptr;
  std::string_view message;
  const void* const* frames = nullptr;
  std::uint32_t frame_count = 0;
  bool already_reported = false;
};

inline constexpr std::uint32_t kMaxKeyBytes = 256;
inline constexpr std::uint32_t kMaxFrames = 48;

inline constexpr std::uint32_t align8(std::size_t size) {
  return static_cast<std::uint32_t>((size + 7) & ~std::size_t{7});
}

/// Copies `size` bytes (sizeof(Word) to 2 * sizeof(Word)) as a first and a last word that
/// overlap.
template <class Word>
inline void copy_head_and_tail(std::byte* to, const std::byte* from, std::size_t size) noexcept {
  Word head, tail;
  std::memcpy(&head, from, sizeof(Word));
  std::memcpy(&tail, from + size - sizeof(Word), sizeof(Word));
  std::memcpy(to, &head, sizeof(Word));
  std::memcpy(to + size - sizeof(Word), &tail, sizeof(Word));
}

/// Copies `size` bytes for the log call's encode step. Keys, messages and values are mostly
/// under 64 bytes, and a libc memcpy through the PLT costs more than the copy itself at those
/// sizes (six calls were a third of the log call), so small sizes use fixed-size overlapping
/// moves that the compiler inlines; nothing is read or written outside the two ranges.
inline void copy_bytes(std::byte* to, const void* from_ptr, std::size_t size) noexcept {
  const auto* from = static_cast<const std::byte*>(from_ptr);
  if (size >= 16) {
    if (size > 64) [[unlikely]] {
      std::memcpy(to, from, size);
      return;
    }
    std::byte block[16];
    for (std::size_t done = 0; done + 16 < size; done += 16) {
      std::memcpy(block, from + done, 16);
      std::memcpy(to + done, block, 16);
    }
    std::memcpy(block, from + size - 16, 16);  // the tail, overlapping what came before
    std::memcpy(to + size - 16, block, 16);
  } else if (size >= 8) {
    copy_head_and_tail<std::uint64_t>(to, from, size);
  } else if (size >= 4) {
    copy_head_and_tail<std::uint32_t>(to, from, size);
  } else if (size != 0) {
    to[0] = from[0];
    to[size / 2] = from[size / 2];
    to[size - 1] = from[size - 1];
  }
}

template <class T>
inline T load_unaligned(const std::byte* p) noexcept {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

}  // namespace monitoring::logging::detail
