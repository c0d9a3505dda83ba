#pragma once

// Backend side of a record: decode it from the queue, scrub and truncate it into a
// RecordView, and render the view as an ECS JSON line or as console text.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "monitoring/logging/observer.hpp"
#include "monitoring/logging/options.hpp"
#include "monitoring/scrub.hpp"
#include "record.hpp"
#include "stacktrace/stack_trace.hpp"

namespace monitoring::logging::detail {

/// Copies of strings that must outlive one record (scrubbed or truncated values), in
/// reusable blocks: no allocation in steady state.
class Arena {
 public:
  std::string_view store(std::string_view text);
  char* allocate(std::size_t size);
  void reset() noexcept;

 private:
  struct Block {
    std::unique_ptr<char[]> data;
    std::size_t size;
  };
  std::vector<Block> blocks_;
  std::size_t block_ = 0;  // current block
  std::size_t used_ = 0;   // bytes used in it
};

/// Remembers which keys are sensitive: field names repeat, the scrubber's key rules do not
/// need to run for every record.
class KeyCache {
 public:
  bool sensitive(std::string_view key, const Scrubber& scrubber);
  void clear() noexcept;

 private:
  struct Slot {
    std::string key;
    std::uint8_t state = 0;  // 0 empty, 1 plain, 2 sensitive
  };
  static constexpr std::size_t kSlots = 1024;
  std::vector<Slot> slots_ = std::vector<Slot>(kSlots);
  std::size_t used_ = 0;
};

class Formatter {
 public:
  explicit Formatter(const LoggingOptions& options);

  /// Decodes, scrubs and truncates one record. The view (and every string in it) stays
  /// valid until the next call.
  const RecordView& prepare(const std::byte* record, const monitoring::detail::ContextData* context,
                            std::uint64_t thread_id, std::int64_t unix_ns);

  /// Appends the ECS JSON line (with '\n') of the prepared record.
  void append_json(std::string& out) const;
  /// Appends the console text of the prepared record (with '\n').
  void append_text(std::string& out, bool colors) const;

  RecordView& view() noexcept { return view_; }

  /// Picks up a replaced Scrubber::shared() (cheap; the backend calls it once a second).
  void refresh_scrubber();

 private:
  std::string_view clean_string(std::string_view text, std::uint32_t original);
  void clean_value(std::string_view key, const FieldValue& value, std::uint32_t original,
                   FieldValue* out);
  std::string_view clean_key(std::string_view key);
  void format_timestamp(std::int64_t unix_ns);

  const LoggingOptions options_;
  std::shared_ptr<const Scrubber> scrubber_;
  const std::string pid_text_;
  Arena arena_;
  KeyCache keys_;
  Symbolizer symbolizer_;
  std::unordered_map<const char*, std::string> type_names_;
  std::string scratch_;
  std::string stack_;

  struct Candidate {
    std::string_view key;
    FieldValue value;
    std::uint32_t original = 0;
    std::string_view written_key{};  // the key as the line will hold it (see prepare)
  };
  std::vector<Candidate> candidates_;
  std::vector<Field> fields_;
  RecordView view_;

  std::int64_t cached_second_ = INT64_MIN;
  char timestamp_[32] = {};  // "YYYY-MM-DDTHH:MM:SS.uuuuuuZ"
};

}  // namespace monitoring::logging::detail
