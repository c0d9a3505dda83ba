#pragma once

// The backtrace (LOG_BACKTRACE): one thread's last records below its loggers' levels, kept by
// the backend as they came out of the thread's queue, neither formatted nor scrubbed, until
// an error on the same thread writes them or newer ones push them out.
//
// Keeping them on the backend side (quill's design) leaves the log call as it is: a kept
// record is encoded like a written one, so it costs the caller the same, and the caller never
// touches a second buffer. The backend pays one copy per kept record.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <unordered_set>
#include <vector>

#include "monitoring/context.hpp"
#include "record.hpp"

namespace monitoring::logging::detail {

class BacktraceStore {
 public:
  /// Keeps a copy of `record` (`size` bytes, a kKindLog chunk) logged under `context`; at
  /// `capacity` records the oldest goes.
  void keep(const std::byte* record, std::uint32_t size,
            std::shared_ptr<const monitoring::detail::ContextData> context, std::size_t capacity) {
    if (capacity == 0) return;
    if (entries_.size() != capacity) resize(capacity);
    Entry& slot = entries_[(head_ + count_) % capacity];
    slot.bytes.assign(record, record + size);  // reuses the slot's buffer
    slot.context = std::move(context);
    if (count_ < capacity) {
      ++count_;
    } else {
      head_ = (head_ + 1) % capacity;
    }
  }

  bool empty() const noexcept { return count_ == 0; }
  std::size_t size() const noexcept { return count_; }

  /// Calls `each(record bytes, context)` for every kept record, oldest first, then forgets
  /// them (the buffers stay for reuse).
  template <class Each>
  void drain(Each&& each) {
    for (std::size_t i = 0; i < count_; ++i) {
      Entry& entry = entries_[(head_ + i) % entries_.size()];
      each(static_cast<const std::byte*>(entry.bytes.data()), entry.context.get());
      entry.context.reset();
    }
    head_ = 0;
    count_ = 0;
  }

  /// Adds to `referenced` each of `candidates` (retired logger states) a kept record points to.
  void collect(const std::unordered_set<const LoggerState*>& candidates,
               std::unordered_set<const LoggerState*>& referenced) const {
    for (std::size_t i = 0; i < count_; ++i) {
      const Entry& entry = entries_[(head_ + i) % entries_.size()];
      LogHeader header;
      std::memcpy(&header, entry.bytes.data(), sizeof header);
      if (candidates.contains(header.logger)) referenced.insert(header.logger);
    }
  }

  /// Forgets everything without reading it (the loggers the records point to may be gone).
  void clear() noexcept {
    entries_.clear();
    entries_.shrink_to_fit();
    head_ = 0;
    count_ = 0;
  }

 private:
  struct Entry {
    std::vector<std::byte> bytes;
    std::shared_ptr<const monitoring::detail::ContextData> context;
  };

  // A changed capacity (reconfigured) keeps the newest records that still fit.
  void resize(std::size_t capacity) {
    std::vector<Entry> resized(capacity);
    const std::size_t keep = std::min(count_, capacity);
    for (std::size_t i = 0; i < keep; ++i)
      resized[i] = std::move(entries_[(head_ + count_ - keep + i) % entries_.size()]);
    entries_ = std::move(resized);
    head_ = 0;
    count_ = keep;
  }

  std::vector<Entry> entries_;  // a ring: count_ records from head_
  std::size_t head_ = 0;
  std::size_t count_ = 0;
};

}  // namespace monitoring::logging::detail
