// Transactions and spans: ids, sampling, sentry-trace / baggage propagation, and the hand-off
// of a finished sampled transaction to the client's queue.

#include "monitoring/sentry/tracing.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "monitoring/core/task_local.hpp"
#include "monitoring/sentry/client.hpp"
#include "net/http_client.hpp"
#include "sentry/capture.hpp"
#include "sentry/client.hpp"
#include "sentry/crash.hpp"
#include "sentry/ids.hpp"
#include "sentry/scope.hpp"

namespace monitoring::sentry {
namespace detail {

/// What the spans of one trace share: the decision, the DSC and the finished children.
struct Trace {
  std::mutex mutex;
  std::string trace_id;
  std::string name;
  bool sampled = false;
  Tags dsc;
  std::vector<SpanRecord> finished;  // guarded by mutex
  bool done = false;                 // guarded by mutex: the root finished
  ContextSnapshot context;           // user and request id when the transaction started
};

}  // namespace detail

struct Span::State {
  std::shared_ptr<detail::Trace> trace;
  detail::SpanRecord record;
  bool root = false;
  bool finished = false;
  bool bound = false;
  ContextScope scope;
};

namespace {

constexpr std::size_t kMaxSpans = 1000;  // per transaction; more are dropped

/// The calling thread's bound spans, innermost last (a stack that tolerates out-of-order
/// finishes: a span leaves it wherever it is).
thread_local std::vector<Span::State*> t_active;

// A task (coroutine) has a span stack of its own. It starts empty: the spawner's spans may
// finish while the task still runs, so the task must not point at them (its context still
// carries their trace and span ids for logs and exemplars).
using TaskSpans = std::vector<Span::State*>;

[[maybe_unused]] const bool g_task_spans_registered = [] {
  core::register_task_local({
      []() -> void* { return new TaskSpans(); },
      [](void* storage) noexcept { t_active.swap(*static_cast<TaskSpans*>(storage)); },
      [](void* storage) noexcept { delete static_cast<TaskSpans*>(storage); },
  });
  return true;
}();

bool is_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

void check_op(std::string_view what, std::string_view value) {
  if (value.empty())
    throw SentryError("sentry: the " + std::string(what) + " of a span must not be empty");
}

void check_key(std::string_view key) {
  if (key.empty() || key.size() > 32 || std::any_of(key.begin(), key.end(), [](char c) {
        return static_cast<unsigned char>(c) <= ' ';
      }))
    throw SentryError("sentry: invalid span tag key '" + std::string(key.substr(0, 64)) +
                      "': 1..32 characters without spaces or control characters");
}

void put(Tags& pairs, std::string_view key, std::string_view value) {
  for (auto& [k, v] : pairs)
    if (k == key) {
      v = std::string(value);
      return;
    }
  pairs.emplace_back(std::string(key), std::string(value));
}

void bind(Span::State& state) {
  state.scope = context::with_trace(state.trace->trace_id, state.record.span_id);
  state.bound = true;
  t_active.push_back(&state);
}

void unbind(Span::State& state) {
  if (!state.bound) return;
  state.bound = false;
  state.scope.restore();
  auto it = std::find(t_active.begin(), t_active.end(), &state);
  if (it != t_active.end()) t_active.erase(it);
}

std::unique_ptr<Span::State> child_of(const Span::State& parent, std::string_view op,
                                      std::string_view description) {
  auto state = std::make_unique<Span::State>();
  state->trace = parent.trace;
  state->record.span_id = detail::new_span_id();
  state->record.parent_span_id = parent.record.span_id;
  state->record.op = std::string(op);
  state->record.description = std::string(description);
  state->record.start = std::chrono::system_clock::now();
  return state;
}

std::string format_rate(double rate) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", rate);
  return text;
}

}  // namespace

std::optional<TraceParent> parse_sentry_trace(std::string_view header) {
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  if (header.size() < 49 || header[32] != '-') return std::nullopt;
  TraceParent parent;
  parent.trace_id = std::string(header.substr(0, 32));
  parent.parent_span_id = std::string(header.substr(33, 16));
  if (!is_hex(parent.trace_id) || !is_hex(parent.parent_span_id)) return std::nullopt;
  if (parent.trace_id == std::string(32, '0') || parent.parent_span_id == std::string(16, '0'))
    return std::nullopt;
  std::string_view rest = header.substr(49);
  if (rest.empty()) return parent;
  if (rest == "-1")
    parent.sampled = true;
  else if (rest == "-0")
    parent.sampled = false;
  else
    return std::nullopt;
  return parent;
}

Tags parse_baggage(std::string_view header) {
  Tags out;
  while (!header.empty()) {
    const std::size_t comma = header.find(',');
    std::string_view member = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    member = member.substr(0, member.find(';'));  // properties are not ours
    while (!member.empty() && (member.front() == ' ' || member.front() == '\t'))
      member.remove_prefix(1);
    while (!member.empty() && (member.back() == ' ' || member.back() == '\t'))
      member.remove_suffix(1);
    const std::size_t eq = member.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = member.substr(0, eq);
    while (!key.empty() && key.back() == ' ') key.remove_suffix(1);
    if (!key.starts_with("sentry-") || key.size() == 7) continue;
    std::string_view value = member.substr(eq + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    put(out, key.substr(7), common::percent_decode(value));
  }
  return out;
}

Span::Span() noexcept = default;
Span::Span(std::unique_ptr<State> state) noexcept : state_(std::move(state)) {}
Span::Span(Span&& other) noexcept = default;
Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    finish();
    state_ = std::move(other.state_);
  }
  return *this;
}
Span::~Span() {
  try {
    finish();
  } catch (...) {  // a destructor must not throw; the span is lost at worst
  }
}

bool Span::active() const noexcept {
  return state_ && !state_->finished;
}
bool Span::sampled() const noexcept {
  return state_ && state_->trace->sampled;
}
std::string Span::trace_id() const {
  return state_ ? state_->trace->trace_id : std::string();
}
std::string Span::span_id() const {
  return state_ ? state_->record.span_id : std::string();
}

Span Span::start_child(std::string_view op, std::string_view description) {
  check_op("op", op);
  if (!state_) return Span();
  return Span(child_of(*state_, op, description));
}

Span& Span::set_tag(std::string_view key, std::string_view value) {
  check_key(key);
  if (state_) put(state_->record.tags, key, value);
  return *this;
}

Span& Span::set_data(std::string_view key, std::string_view value) {
  if (key.empty()) throw SentryError("sentry: a span data key must not be empty");
  if (state_) put(state_->record.data, key, value);
  return *this;
}

Span& Span::set_status(std::string_view status) {
  static constexpr std::string_view kStatuses[] = {"ok",
                                                   "cancelled",
                                                   "unknown",
                                                   "invalid_argument",
                                                   "deadline_exceeded",
                                                   "not_found",
                                                   "already_exists",
                                                   "permission_denied",
                                                   "resource_exhausted",
                                                   "failed_precondition",
                                                   "aborted",
                                                   "out_of_range",
                                                   "unimplemented",
                                                   "internal_error",
                                                   "unavailable",
                                                   "data_loss",
                                                   "unauthenticated"};
  if (std::find(std::begin(kStatuses), std::end(kStatuses), status) == std::end(kStatuses))
    throw SentryError("sentry: unknown span status '" + std::string(status.substr(0, 64)) + "'");
  if (state_) state_->record.status = std::string(status);
  return *this;
}

void Span::finish() {
  if (!state_ || state_->finished) return;
  State& state = *state_;
  state.finished = true;
  state.record.end = std::chrono::system_clock::now();
  if (state.record.status.empty()) state.record.status = "ok";
  unbind(state);
  detail::Trace& trace = *state.trace;
  if (!state.root) {
    std::lock_guard lock(trace.mutex);
    if (!trace.done && trace.finished.size() < kMaxSpans) trace.finished.push_back(state.record);
    return;
  }
  std::vector<detail::SpanRecord> children;
  {
    std::lock_guard lock(trace.mutex);
    trace.done = true;
    children.swap(trace.finished);
  }
  if (!trace.sampled) return;
  auto client = detail::active_client();
  if (!client) return;
  auto record = std::make_unique<detail::TransactionRecord>();
  record->event_id = detail::new_event_id();
  record->trace_id = trace.trace_id;
  record->name = trace.name;
  record->root = state.record;
  record->spans = std::move(children);
  record->dsc = trace.dsc;
  record->global_scope = detail::load_global_scope();
  record->context = trace.context;
  client->enqueue_transaction(std::move(record));
}

std::string Span::sentry_trace() const {
  if (!state_) return {};
  return state_->trace->trace_id + "-" + state_->record.span_id +
         (state_->trace->sampled ? "-1" : "-0");
}

std::string Span::baggage() const {
  if (!state_) return {};
  std::string out;
  for (const auto& [key, value] : state_->trace->dsc) {
    if (!out.empty()) out += ',';
    out += "sentry-";
    out += key;
    out += '=';
    out += common::percent_encode(value);
  }
  return out;
}

Span start_transaction(std::string_view name, std::string_view op, std::string_view sentry_trace,
                       std::string_view baggage, bool bind_context) {
  check_op("name", name);
  check_op("op", op);
  detail::ensure_thread_alt_stack();
  auto client = detail::active_client();
  auto trace = std::make_shared<detail::Trace>();
  trace->name = std::string(name);
  trace->context = context::current();
  const std::optional<TraceParent> parent =
      sentry_trace.empty() ? std::nullopt : parse_sentry_trace(sentry_trace);
  trace->trace_id = parent ? parent->trace_id : detail::new_event_id();
  const double rate = client ? client->options().traces_sample_rate : 0.0;
  if (parent && parent->sampled.has_value())
    trace->sampled = *parent->sampled && client != nullptr;
  else
    trace->sampled = client != nullptr && detail::sampled(rate);
  // The head of the trace fixes the sampling context; a continuation passes it on unchanged.
  if (parent) trace->dsc = parse_baggage(baggage);
  if (trace->dsc.empty()) {
    put(trace->dsc, "trace_id", trace->trace_id);
    if (client) {
      put(trace->dsc, "public_key", client->dsn().public_key);
      if (!client->options().environment.empty())
        put(trace->dsc, "environment", client->options().environment);
      if (!client->options().release.empty()) put(trace->dsc, "release", client->options().release);
    }
    put(trace->dsc, "sample_rate", format_rate(rate));
    put(trace->dsc, "sampled", trace->sampled ? "true" : "false");
    put(trace->dsc, "transaction", trace->name);
  }
  auto state = std::make_unique<Span::State>();
  state->trace = std::move(trace);
  state->root = true;
  state->record.span_id = detail::new_span_id();
  if (parent) state->record.parent_span_id = parent->parent_span_id;
  state->record.op = std::string(op);
  state->record.description = std::string(name);
  state->record.start = std::chrono::system_clock::now();
  if (bind_context) bind(*state);
  return Span(std::move(state));
}

Span start_span(std::string_view op, std::string_view description, bool bind_context) {
  check_op("op", op);
  if (t_active.empty()) return Span();
  auto state = child_of(*t_active.back(), op, description);
  if (bind_context) bind(*state);
  return Span(std::move(state));
}

}  // namespace monitoring::sentry
