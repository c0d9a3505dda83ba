#pragma once

// State that both the normal code paths and a fatal-signal handler read: the breadcrumb log
// and a text mirror of the global scope. Writers are ordinary code (they may allocate while
// formatting); readers use atomic loads and copies only, so they may run in a signal handler
// and never wait for a writer: a record that is being written, or was overwritten while it
// was read, is skipped.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sentry/event.hpp"

namespace monitoring::sentry::detail {

/// One breadcrumb as a single line of text: timestamp (µs since the epoch), level, type,
/// category, message, then data keys and values, separated by tabs; backslash, tab, CR and
/// LF are escaped. At most `kMaxBreadcrumbText` bytes: the message is shortened (at a UTF-8
/// boundary) and data pairs that no longer fit are left out.
inline constexpr std::size_t kMaxBreadcrumbText = 4096 - 16;
std::string encode_breadcrumb(const Breadcrumb& crumb);
/// The inverse of encode_breadcrumb; false for a line that is not one.
bool decode_breadcrumb(std::string_view line, Breadcrumb& out);
/// Every line of `lines` ('\n'-separated encoded breadcrumbs) that decodes.
std::vector<Breadcrumb> decode_breadcrumbs(std::string_view lines);
/// Appends every record of `snapshot` that decodes to `out`.
void decode_breadcrumbs(const BreadcrumbSnapshot& snapshot, std::vector<Breadcrumb>& out);

/// The process's breadcrumbs: a lock-free, multi-producer log of encoded records.
///
/// Records live in a ring of 64-bit words (`kWords`) addressed through a ring of ordinals
/// (`kSlots`). A writer claims an ordinal and a word range with two fetch_adds, writes its
/// record and publishes the range in the ordinal's slot. A reader copies the latest records
/// and then checks that no writer has wrapped around onto what it copied. Every word carries
/// in its top 16 bits the lap of the ring it was written for (6 bytes of text per word): a
/// writer that was preempted for a whole lap and then writes its stale record over newer
/// ones cannot pass its words off as theirs. Records are at most kMaxBreadcrumbText bytes;
/// with large records fewer than `limit()` may fit in the ring.
class BreadcrumbLog {
 public:
  static constexpr std::size_t kSlots = 1024;       ///< > the largest max_breadcrumbs (1000)
  static constexpr std::size_t kWords = 32 * 1024;  ///< 192 KiB of record text
  static constexpr std::size_t kTextBytesPerWord = 6;
  static constexpr std::size_t kMaxRecordWords =
      2 + (kMaxBreadcrumbText + kTextBytesPerWord - 1) / kTextBytesPerWord;

  constexpr BreadcrumbLog() noexcept = default;
  BreadcrumbLog(const BreadcrumbLog&) = delete;
  BreadcrumbLog& operator=(const BreadcrumbLog&) = delete;

  /// How many of the latest breadcrumbs events carry (max_breadcrumbs, at most kSlots).
  /// 0 = breadcrumbs are off and add() keeps nothing.
  void set_limit(std::size_t limit) noexcept;
  std::size_t limit() const noexcept { return limit_.load(std::memory_order_relaxed); }
  /// Records begun so far. While it stays the same, a complete snapshot (one that has every
  /// record up to it) stays current: every change begins a record.
  std::uint64_t head() const noexcept { return next_ordinal_.load(std::memory_order_acquire); }

  void add(const Breadcrumb& crumb);
  /// The latest limit() records that could be read whole, oldest first: one bulk copy of
  /// the words they occupy. No lock, no waiting, no decoding (that is the worker's part).
  void snapshot(BreadcrumbSnapshot& out) const;
  /// What was added after `earlier` (a snapshot of this log), whatever limit() says (up to
  /// kSlots): every record begun since it was taken, and those it could not read because
  /// they were still being written then, that are still in the log.
  void snapshot_added_since(BreadcrumbSnapshot& out, const BreadcrumbSnapshot& earlier) const;
  /// The same as lines ('\n' after each record).
  void snapshot(std::string& out) const;

  /// Calls `visit(context, text, length)` for each of the latest limit() records, oldest
  /// first, copied into `buffer` (kMaxBreadcrumbText bytes). Async-signal-safe: atomic loads
  /// only.
  void visit(char* buffer, void (*visit)(void* context, const char* text, std::size_t length),
             void* context) const noexcept;

  /// The text of the record at word `offset` of a snapshot (its header), checked word by word
  /// against the lap it must have been written for. False when a word is not.
  static bool unpack(const BreadcrumbSnapshot& snapshot, std::size_t offset, std::size_t bytes,
                     std::string& text);

 private:
  /// Copies the text of record `ordinal` into `buffer` (kMaxBreadcrumbText bytes); false when
  /// it is not there (not written yet, being written, or overwritten).
  bool read(std::uint64_t ordinal, char* buffer, std::size_t& length) const noexcept;
  /// The records with ordinals in [first, head) for which `wanted(ordinal)` holds.
  template <typename Wanted>
  void snapshot_from(BreadcrumbSnapshot& out, std::uint64_t first, std::uint64_t head,
                     Wanted wanted) const;

  std::atomic<std::uint64_t> next_ordinal_{0};
  std::atomic<std::uint64_t> cursor_{0};  // words reserved so far (never wraps)
  std::atomic<std::size_t> limit_{100};
  std::atomic<std::uint64_t> slots_[kSlots]{};  // 1 + first word of the record; 0 = none
  std::atomic<std::uint64_t> words_[kWords]{};
};

/// The process's breadcrumb log (constant-initialized: usable from any handler at any time).
BreadcrumbLog& breadcrumb_log() noexcept;

/// A text published by one writer at a time (callers serialize) and read by a signal
/// handler: a sequence lock over atomic words. Used for the global scope of crash records.
class SeqlockText {
 public:
  static constexpr std::size_t kWords = 1024;  ///< 8 KiB
  static constexpr std::size_t kMaxBytes = kWords * 8;

  constexpr SeqlockText() noexcept = default;
  SeqlockText(const SeqlockText&) = delete;
  SeqlockText& operator=(const SeqlockText&) = delete;

  /// Publishes `text` (cut to kMaxBytes). One writer at a time.
  void publish(std::string_view text) noexcept;
  /// Copies the published text into `buffer` (kWords words). Tries a few times while a
  /// writer is active, then gives up (false). Async-signal-safe.
  bool read(std::uint64_t* buffer, std::size_t& length) const noexcept;

 private:
  std::atomic<std::uint64_t> sequence_{0};  // odd while a writer is at work
  std::atomic<std::uint64_t> length_{0};
  std::atomic<std::uint64_t> words_[kWords]{};
};

/// The global scope as crash-record lines ("user id\tname\temail\tip", "tag key\tvalue",
/// "extra key\tvalue", "context name\tkey\tvalue...", "fingerprint part\tpart...") that
/// fit in SeqlockText::kMaxBytes; lines that do not fit are left out, most important first.
std::string scope_record_lines(const ScopeData& scope);
/// The mirror the crash handler writes into its records.
SeqlockText& scope_mirror() noexcept;

/// Splits one tab-separated, escaped line into its unescaped fields.
std::vector<std::string> split_escaped(std::string_view line);
/// `text` escaped as one field of such a line (backslash, tab, LF and CR).
std::string escape_field(std::string_view text);

}  // namespace monitoring::sentry::detail
