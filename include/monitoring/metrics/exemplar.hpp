#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace monitoring::metrics {

/// Bytes a histogram keeps of an exemplar's ids: the trace id plus the span id. A trace id
/// longer than this gets no exemplar; a span id that does not fit beside the trace id is left
/// out. W3C / Sentry ids (32 + 16 hex digits) fit twice over, and the bound keeps a bucket's
/// exemplar slot at two cache lines.
inline constexpr std::size_t kExemplarIdBytes = 96;

/// OpenMetrics: label names plus values of an exemplar must not exceed 128 code points.
inline constexpr std::size_t kExemplarMaxLabelCodePoints = 128;
static_assert(sizeof("trace_id") - 1 + sizeof("span_id") - 1 + kExemplarIdBytes <=
                  kExemplarMaxLabelCodePoints,
              "stored ids must always fit the OpenMetrics exemplar limit");

/// An OpenMetrics exemplar of a histogram bucket: the latest observation that landed in the
/// bucket while a trace was active (`context::with_trace`, a Sentry transaction or span),
/// exposed as `{trace_id="...",span_id="..."} <value> <timestamp>` after the bucket's count.
/// Only the OpenMetrics format carries exemplars; text format 0.0.4 has no syntax for them.
struct Exemplar {
  std::string trace_id;           ///< empty: the bucket has no exemplar
  std::string span_id;            ///< empty when no span was active or it did not fit
  double value = 0;               ///< the observed value
  std::int64_t timestamp_ms = 0;  ///< Unix time of the observation, milliseconds

  bool empty() const noexcept { return trace_id.empty(); }
};

}  // namespace monitoring::metrics
