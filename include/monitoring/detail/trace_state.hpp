#pragma once

// The one thread-local a hot path reads to learn whether a trace is active (see context.hpp).

namespace monitoring::detail {

struct ContextData;

// The calling thread's context while it carries a trace (non-empty trace id), else null. Kept
// beside tls_context so that Histogram::observe decides on an exemplar with one %fs-relative
// load and a branch, without including context.hpp or chasing the context's trace_id string.
// Same TLS model and owner as tls_context.
[[gnu::tls_model("initial-exec")]] extern thread_local constinit const ContextData* tls_trace;

}  // namespace monitoring::detail
