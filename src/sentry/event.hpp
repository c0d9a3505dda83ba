#pragma once

// The event model between capture and the wire: what a caller copies out (Captured), what a
// finished transaction holds, and the functions of event.cpp that turn them into scrubbed
// JSON payloads and envelopes on the background thread.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "monitoring/context.hpp"
#include "monitoring/logging/observer.hpp"
#include "monitoring/scrub.hpp"
#include "monitoring/sentry/client.hpp"

namespace monitoring::sentry::detail {

struct ScopeData;  // scope.hpp

inline constexpr std::string_view kSdkName = "monitoring-cpp";
inline constexpr std::string_view kSdkVersion = "0.1.0";

/// One exception of a chain as the caller saw it (outermost first); demangled later.
struct RawException {
  std::string type;  ///< mangled (typeid name) or already readable when `demangled`
  bool demangled = false;
  std::string value;
  std::vector<void*> thrown_at{};  ///< raw return addresses where it was thrown, when known
};

/// Breadcrumbs as a caller copied them out of the breadcrumb log (signal_safe.hpp) in one
/// pass: the log's words from the oldest record on, and where each record that could be read
/// whole has its text. Decoded on the background thread.
struct BreadcrumbSnapshot {
  std::uint64_t head = 0;  ///< records begun in the log when it was taken
  bool complete = false;   ///< every one of the latest `limit` records up to `head` is here
  std::size_t limit = 0;   ///< the log's limit then
  std::uint64_t base = 0;  ///< the log position of words[0]
  std::vector<std::uint64_t> words;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> records;  ///< (header word, text bytes)
  /// Ordinals below `head` that it covers but could not read whole (still being written, or
  /// overwritten), ascending: a later snapshot picks up those still being written.
  std::vector<std::uint64_t> unread;
};

/// One loaded ELF image as Sentry's debug_meta lists it (type "elf").
struct DebugImage {
  std::string code_file;          ///< path of the executable or shared object
  std::string debug_id;           ///< from the build id (debug_images.hpp); empty without one
  std::string code_id;            ///< the whole GNU build id, hex
  std::uintptr_t image_addr = 0;  ///< where it is mapped
  std::uint64_t image_size = 0;
};

/// What the caller hands to the background thread: copies and raw addresses only.
struct Captured {
  Event event;  ///< event_id, timestamp, level, message, logger, tags and fields set here
  std::vector<RawException> chain;
  /// Raw return addresses, innermost first: the capture's stack, for the outermost exception
  /// when its throw site is unknown; a crash record's stack.
  std::vector<void*> frames;
  /// frames[0] is the exact address of a faulting instruction (a signal's), not a return
  /// address: it is symbolized as is.
  bool first_frame_is_pc = false;
  /// The images the frames belong to, when they are not this process's (a crash record's).
  std::shared_ptr<const std::vector<DebugImage>> images;
  std::string stack_text;  ///< a logger record's symbolized trace, parsed into frames
  std::shared_ptr<const ScopeData> global_scope;
  std::shared_ptr<const ScopeData> thread_scope;
  ContextSnapshot context;
  /// Of a capture; shared by the captures of a thread while no breadcrumb was added.
  std::shared_ptr<const BreadcrumbSnapshot> breadcrumbs;
  std::string breadcrumb_lines;  ///< of a crash record: encoded lines (signal_safe.hpp)
  /// The capturing thread's log queue at the capture: the worker waits until the records
  /// before it became breadcrumbs, then takes the breadcrumbs again, up to the capture.
  logging::LogPosition log_position;
};

/// One finished span.
struct SpanRecord {
  std::string span_id;
  std::string parent_span_id;
  std::string op;
  std::string description;
  std::string status;
  std::chrono::system_clock::time_point start;
  std::chrono::system_clock::time_point end;
  Tags tags;
  Tags data;
};

/// A finished, sampled transaction: the root span and its finished children.
struct TransactionRecord {
  std::string event_id;
  std::string trace_id;
  std::string name;
  SpanRecord root;
  std::vector<SpanRecord> spans;
  Tags dsc;  ///< dynamic sampling context (baggage's sentry- members, prefix removed)
  std::shared_ptr<const ScopeData> global_scope;
  ContextSnapshot context;
};

/// The transaction payload JSON (scope and context merged, scrubbed).
std::string transaction_json(const TransactionRecord& record, const Options& options,
                             const Scrubber& scrubber);

/// Builds the final event: demangles the chain, symbolizes frames, merges global scope <
/// shared context < thread scope < event. Background thread.
Event assemble(Captured& captured, const Options& options);
/// Frames from the logger's "#0 0x... in fn at file:line" text, oldest call first.
std::vector<Frame> parse_stack_text(std::string_view text);
/// Replaces secrets in every free-text and key/value part of the event.
void scrub_event(Event& event, const Scrubber& scrubber);
/// The event payload JSON (with sdk, platform, os/runtime/trace contexts, and debug_meta
/// when `images` is given).
std::string event_json(const Event& event, const std::vector<DebugImage>* images = nullptr);

/// One envelope item: its type (event, client_report, ...) and JSON payload.
struct EnvelopeItem {
  std::string type;
  std::string payload;
};
/// `header\n` then `item header\npayload\n` per item; event_id in the header when given.
/// `trace` (the dynamic sampling context) goes into the envelope header when not empty.
std::string build_envelope(std::string_view event_id, const std::vector<EnvelopeItem>& items,
                           const Tags& trace = {});

/// Client report counters: (reason, category) -> quantity.
using DiscardCounts = std::map<std::pair<std::string, std::string>, std::uint64_t>;
std::string client_report_json(const DiscardCounts& counts);

/// A field value as Sentry shows tags, extra and breadcrumb data: text, numbers as JSON writes
/// them.
std::string field_text(const FieldValue& value);

}  // namespace monitoring::sentry::detail
