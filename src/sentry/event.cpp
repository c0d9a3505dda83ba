// Turning what the caller captured into a Sentry event: demangling, symbolization, scope
// merging, scrubbing and the JSON of the event and its envelope. Background thread only.

#include "sentry/event.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <string>
#include <string_view>

#include "core/json_writer.hpp"
#include "sentry/ids.hpp"
#include "sentry/scope.hpp"
#include "sentry/signal_safe.hpp"
#include "stacktrace/stack_trace.hpp"

namespace monitoring::sentry::detail {

std::string field_text(const FieldValue& v) {
  switch (v.type()) {
    case FieldValue::Type::kNull:
      return "null";
    case FieldValue::Type::kBool:
      return v.as_bool() ? "true" : "false";
    case FieldValue::Type::kInt:
      return std::to_string(v.as_int());
    case FieldValue::Type::kUint:
      return std::to_string(v.as_uint());
    case FieldValue::Type::kDouble: {
      std::string out;
      monitoring::detail::append_json_number(out, v.as_double());
      return out;
    }
    case FieldValue::Type::kString:
      return std::string(v.as_string());
  }
  return {};
}

namespace {

using monitoring::detail::JsonWriter;

bool starts_with_any(std::string_view text, std::initializer_list<std::string_view> prefixes) {
  for (std::string_view prefix : prefixes)
    if (text.starts_with(prefix)) return true;
  return false;
}

/// Frames of the capture machinery itself, which only add noise at the top of a trace.
bool is_capture_frame(std::string_view function) {
  return starts_with_any(
      function, {"monitoring::sentry::capture_exception",
                 "monitoring::sentry::detail::", "monitoring::logging::detail::capture_stack"});
}

/// Drops the capture machinery at the top (innermost first) of a trace. Runtime frames
/// (backtrace(), a sanitizer's interceptor) may sit above it, so everything up to the last
/// capture frame among the first few goes.
void drop_capture_frames(std::vector<Frame>& frames) {
  std::size_t end = 0;
  for (std::size_t i = 0; i < frames.size() && i < 12; ++i)
    if (is_capture_frame(frames[i].function)) end = i + 1;
  frames.erase(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(end));
}

/// The qualified name of a demangled function: a template function's name starts with its
/// return type ("void std::throw_with_nested<...>(...)"), which would hide its namespace.
std::string_view without_return_type(std::string_view function) {
  constexpr std::string_view kAnonymous = "(anonymous namespace)";
  std::size_t start = 0;
  int depth = 0;
  for (std::size_t i = 0; i < function.size(); ++i) {
    if (function.substr(i).starts_with(kAnonymous)) {
      i += kAnonymous.size() - 1;
      continue;
    }
    const char c = function[i];
    if (c == '<') {
      ++depth;
    } else if (c == '>') {
      --depth;
    } else if (depth == 0 && c == '(') {
      break;
    } else if (depth == 0 && c == ' ') {
      start = i + 1;
    }
  }
  return function.substr(start);
}

/// Application code: not the C/C++ runtime, not a system library, not this client.
bool is_in_app(const Frame& frame) {
  if (frame.function.empty()) return false;
  if (starts_with_any(without_return_type(frame.function),
                      {"std::", "__gnu_cxx::", "__cxxabiv1::", "__libc_", "_start", "__cxa_",
                       "boost::", "monitoring::"}))
    return false;
  if (starts_with_any(frame.package, {"/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/"}))
    return false;
  if (starts_with_any(frame.filename, {"/usr/include/", "/usr/lib/"})) return false;
  return true;
}

/// Return addresses (innermost first) -> frames, in the same order.
/// `first_is_pc`: addresses[0] is a faulting instruction (a signal's), looked up as is; every
/// other address is a return address.
std::vector<Frame> symbolize(const std::vector<void*>& addresses, bool first_is_pc = false) {
  thread_local logging::detail::Symbolizer symbolizer;
  std::vector<Frame> frames;
  frames.reserve(addresses.size());
  bool return_address = !first_is_pc;
  for (void* address : addresses) {
    const auto& resolved =
        symbolizer.resolve(reinterpret_cast<std::uintptr_t>(address), return_address);
    return_address = true;
    Frame frame;
    frame.instruction_addr = reinterpret_cast<std::uintptr_t>(address);
    frame.function = resolved.function;
    frame.filename = resolved.file;
    frame.lineno = resolved.line;
    frame.package = resolved.object;
    frame.in_app = is_in_app(frame);
    frames.push_back(std::move(frame));
  }
  return frames;
}

template <class Members>
void set_member(Members& members, const std::string& key, const std::string& value) {
  for (auto& [k, v] : members)
    if (k == key) {
      v = value;
      return;
    }
  members.emplace_back(key, value);
}

void merge_scope(Event& event, const ScopeData* scope) {
  if (scope == nullptr) return;
  if (scope->has_user) event.user = scope->user;
  for (const auto& [k, v] : scope->tags) set_member(event.tags, k, v);
  for (const auto& [k, v] : scope->extra) set_member(event.extra, k, v);
  // Not a structured binding: clang 14 cannot capture one in the lambda.
  for (const auto& context : scope->contexts) {
    auto it = std::find_if(event.contexts.begin(), event.contexts.end(),
                           [&](const auto& c) { return c.first == context.first; });
    if (it == event.contexts.end())
      event.contexts.push_back(context);
    else
      it->second = context.second;
  }
  if (!scope->fingerprint.empty()) event.fingerprint = scope->fingerprint;
}

void scrub_text(const Scrubber& scrubber, std::string& text) {
  std::string out;
  if (scrubber.scrub(text, out)) text = std::move(out);
}

void scrub_pairs(const Scrubber& scrubber, Tags& pairs) {
  for (auto& [key, value] : pairs) {
    if (scrubber.is_sensitive_key(key))
      value = Scrubber::kFiltered;
    else
      scrub_text(scrubber, value);
  }
}

struct HostInfo {
  std::string os_version;
  std::string kernel;
  std::string hostname;
};

const HostInfo& host_info() {
  // Leaked on purpose: a Sentry worker close() gave up on may still build events during exit.
  static const HostInfo& info = *new HostInfo([] {
    HostInfo out;
    utsname names{};
    if (::uname(&names) == 0) {
      out.os_version = names.release;
      out.kernel = std::string(names.sysname) + " " + names.release + " " + names.version;
    }
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) == 0) out.hostname = host;
    return out;
  }());
  return info;
}

void write_pairs(JsonWriter& json, const Tags& pairs) {
  json.begin_object();
  for (const auto& [k, v] : pairs) json.member(k, v);
  json.end_object();
}

void write_frames(JsonWriter& json, const std::vector<Frame>& frames) {
  json.key("stacktrace").begin_object().key("frames").begin_array();
  char hex[24];
  for (const Frame& frame : frames) {
    json.begin_object();
    if (frame.instruction_addr != 0) {
      std::snprintf(hex, sizeof hex, "0x%llx",
                    static_cast<unsigned long long>(frame.instruction_addr));
      json.member("instruction_addr", std::string_view(hex));
    }
    if (!frame.function.empty()) json.member("function", frame.function);
    if (!frame.filename.empty()) {
      json.member("filename", frame.filename);
      json.member("abs_path", frame.filename);
    }
    if (frame.lineno > 0) json.member("lineno", frame.lineno);
    if (!frame.package.empty()) json.member("package", frame.package);
    json.member("in_app", frame.in_app);
    json.end_object();
  }
  json.end_array().end_object();
}

}  // namespace

std::vector<Frame> parse_stack_text(std::string_view text) {
  // "#0 0x000055d0c1a2b3c4 in payment::process(int) at src/payment.cpp:42", innermost first.
  std::vector<Frame> frames;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    const std::size_t hex = line.find("0x");
    if (hex == std::string_view::npos) continue;
    Frame frame;
    std::string_view rest = line.substr(hex + 2);
    std::uintptr_t address = 0;
    auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), address, 16);
    if (error == std::errc()) frame.instruction_addr = address;
    rest = rest.substr(static_cast<std::size_t>(end - rest.data()));
    if (rest.starts_with(" in ")) rest.remove_prefix(4);
    const std::size_t at = rest.rfind(" at ");
    std::string_view function = at == std::string_view::npos ? rest : rest.substr(0, at);
    if (at != std::string_view::npos) {
      std::string_view location = rest.substr(at + 4);
      const std::size_t colon = location.rfind(':');
      frame.filename = std::string(location.substr(0, colon));
      if (colon != std::string_view::npos) {
        std::string_view number = location.substr(colon + 1);
        std::from_chars(number.data(), number.data() + number.size(), frame.lineno);
      }
    }
    if (function.starts_with("?? (")) {
      frame.package = std::string(function.substr(4, function.find('+') - 4));
    } else if (function != "??") {
      frame.function = std::string(function);
    }
    frame.in_app = is_in_app(frame);
    frames.push_back(std::move(frame));
  }
  drop_capture_frames(frames);
  std::reverse(frames.begin(), frames.end());
  return frames;
}

Event assemble(Captured& captured, const Options& options) {
  Event event;
  // Lowest precedence first: global scope, shared context, thread scope, then the event.
  merge_scope(event, captured.global_scope.get());
  const ContextSnapshot& context = captured.context;
  if (context.has_user()) {
    event.user.id = std::string(context.user_id());
    event.user.username = std::string(context.user_name());
  }
  if (!context.request_id().empty())
    set_member(event.tags, "request_id", std::string(context.request_id()));
  for (const OwnedField& field : context.fields())
    set_member(event.extra, field.key, field_text(field.value.view()));
  merge_scope(event, captured.thread_scope.get());

  Event& own = captured.event;
  event.event_id = std::move(own.event_id);
  event.timestamp = own.timestamp;
  event.level = own.level;
  event.logger = std::move(own.logger);
  event.message = std::move(own.message);
  event.handled = own.handled;
  event.mechanism = std::move(own.mechanism);
  if (!own.user.empty()) event.user = std::move(own.user);
  for (auto& [k, v] : own.tags) set_member(event.tags, k, v);
  for (auto& [k, v] : own.extra) set_member(event.extra, k, v);
  if (!own.fingerprint.empty()) event.fingerprint = std::move(own.fingerprint);
  event.trace_id = !own.trace_id.empty() ? own.trace_id : std::string(context.trace_id());
  event.span_id = !own.span_id.empty() ? own.span_id : std::string(context.span_id());
  event.environment = options.environment;
  event.release = options.release;
  event.server_name = options.server_name.empty() ? host_info().hostname : options.server_name;

  event.breadcrumbs = decode_breadcrumbs(captured.breadcrumb_lines);
  if (captured.breadcrumbs) decode_breadcrumbs(*captured.breadcrumbs, event.breadcrumbs);

  // Frames, symbolized here: each exception's throw site when known; the outermost one (the
  // one caught) otherwise gets the capture's stack.
  std::vector<Frame> frames;
  if (!captured.frames.empty()) {
    frames = symbolize(captured.frames, captured.first_frame_is_pc);
    drop_capture_frames(frames);
    std::reverse(frames.begin(), frames.end());
  } else if (!captured.stack_text.empty()) {
    frames = parse_stack_text(captured.stack_text);
  }
  // Sentry lists a chain oldest (innermost cause) first; the caller saw it outermost first.
  for (auto it = captured.chain.rbegin(); it != captured.chain.rend(); ++it) {
    ExceptionValue value;
    value.type = it->demangled ? it->type : logging::detail::demangle(it->type.c_str());
    // std::throw_with_nested's wrapper type is an implementation detail: show what was thrown.
    constexpr std::string_view kNested = "std::_Nested_exception<";
    if (value.type.starts_with(kNested) && value.type.back() == '>')
      value.type = value.type.substr(kNested.size(), value.type.size() - kNested.size() - 1);
    value.value = it->value;
    if (!it->thrown_at.empty()) {
      value.frames = symbolize(it->thrown_at);
      std::reverse(value.frames.begin(), value.frames.end());
    }
    event.exceptions.push_back(std::move(value));
  }
  if (!event.exceptions.empty() && event.exceptions.back().frames.empty())
    event.exceptions.back().frames = std::move(frames);
  return event;
}

void scrub_event(Event& event, const Scrubber& scrubber) {
  scrub_text(scrubber, event.message);
  for (ExceptionValue& exception : event.exceptions) scrub_text(scrubber, exception.value);
  scrub_pairs(scrubber, event.tags);
  scrub_pairs(scrubber, event.extra);
  for (auto& [name, values] : event.contexts) scrub_pairs(scrubber, values);
  for (Breadcrumb& crumb : event.breadcrumbs) {
    scrub_text(scrubber, crumb.message);
    scrub_pairs(scrubber, crumb.data);
  }
  scrub_text(scrubber, event.user.id);
  scrub_text(scrubber, event.user.username);
  scrub_text(scrubber, event.user.email);
}

std::string event_json(const Event& event, const std::vector<DebugImage>* images) {
  std::string out;
  out.reserve(4096);
  JsonWriter json(out);
  json.begin_object();
  json.member("event_id", event.event_id);
  json.member("timestamp", rfc3339(event.timestamp));
  json.member("platform", "native");
  json.member("level", level_name(event.level));
  if (!event.logger.empty()) json.member("logger", event.logger);
  if (!event.message.empty())
    json.key("message").begin_object().member("formatted", event.message).end_object();
  if (!event.exceptions.empty()) {
    json.key("exception").begin_object().key("values").begin_array();
    for (std::size_t i = 0; i < event.exceptions.size(); ++i) {
      const ExceptionValue& exception = event.exceptions[i];
      json.begin_object();
      json.member("type", exception.type);
      json.member("value", exception.value);
      // Chained exceptions: each cause is the parent's source (exception_id / parent_id).
      json.key("mechanism").begin_object();
      json.member("type", i + 1 == event.exceptions.size() ? event.mechanism : "chained");
      json.member("handled", event.handled);
      json.member("exception_id", static_cast<std::uint64_t>(event.exceptions.size() - 1 - i));
      if (i + 1 < event.exceptions.size()) {
        json.member("parent_id", static_cast<std::uint64_t>(event.exceptions.size() - 2 - i));
        json.member("source", "nested");
      }
      if (event.exceptions.size() > 1) json.member("is_exception_group", false);
      json.end_object();
      if (!exception.frames.empty()) write_frames(json, exception.frames);
      json.end_object();
    }
    json.end_array().end_object();
  }
  if (!event.tags.empty()) {
    json.key("tags");
    write_pairs(json, event.tags);
  }
  if (!event.extra.empty()) {
    json.key("extra");
    write_pairs(json, event.extra);
  }
  if (!event.user.empty()) {
    json.key("user").begin_object();
    if (!event.user.id.empty()) json.member("id", event.user.id);
    if (!event.user.username.empty()) json.member("username", event.user.username);
    if (!event.user.email.empty()) json.member("email", event.user.email);
    if (!event.user.ip_address.empty()) json.member("ip_address", event.user.ip_address);
    json.end_object();
  }
  json.key("contexts").begin_object();
  const HostInfo& host = host_info();
  json.key("os").begin_object().member("type", "os").member("name", "Linux");
  if (!host.os_version.empty()) json.member("version", host.os_version);
  if (!host.kernel.empty()) json.member("kernel_version", host.kernel);
  json.end_object();
  json.key("runtime").begin_object().member("type", "runtime").member("name", "C++");
  json.member("version",
              "C++" + std::to_string(__cplusplus / 100 % 100) + " (GCC " + __VERSION__ + ")");
  json.end_object();
  if (!event.trace_id.empty()) {
    json.key("trace").begin_object().member("type", "trace").member("trace_id", event.trace_id);
    if (!event.span_id.empty()) json.member("span_id", event.span_id);
    json.end_object();
  }
  for (const auto& [name, values] : event.contexts) {
    if (name == "os" || name == "runtime" || name == "trace") continue;
    json.key(name);
    write_pairs(json, values);
  }
  json.end_object();
  if (!event.fingerprint.empty()) {
    json.key("fingerprint").begin_array();
    for (const std::string& part : event.fingerprint) json.value(part);
    json.end_array();
  }
  if (!event.breadcrumbs.empty()) {
    json.key("breadcrumbs").begin_object().key("values").begin_array();
    for (const Breadcrumb& crumb : event.breadcrumbs) {
      json.begin_object();
      json.member("timestamp", rfc3339(crumb.timestamp));
      json.member("type", crumb.type);
      if (!crumb.category.empty()) json.member("category", crumb.category);
      if (!crumb.message.empty()) json.member("message", crumb.message);
      json.member("level", level_name(crumb.level));
      if (!crumb.data.empty()) {
        json.key("data");
        write_pairs(json, crumb.data);
      }
      json.end_object();
    }
    json.end_array().end_object();
  }
  if (images != nullptr && !images->empty()) {
    json.key("debug_meta").begin_object().key("images").begin_array();
    char hex[24];
    for (const DebugImage& image : *images) {
      json.begin_object().member("type", "elf").member("code_file", image.code_file);
      if (!image.debug_id.empty()) json.member("debug_id", image.debug_id);
      if (!image.code_id.empty()) json.member("code_id", image.code_id);
      std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(image.image_addr));
      json.member("image_addr", std::string_view(hex));
      json.member("image_size", static_cast<std::uint64_t>(image.image_size));
      json.end_object();
    }
    json.end_array().end_object();
  }
  if (!event.environment.empty()) json.member("environment", event.environment);
  if (!event.release.empty()) json.member("release", event.release);
  if (!event.server_name.empty()) json.member("server_name", event.server_name);
  json.key("sdk")
      .begin_object()
      .member("name", kSdkName)
      .member("version", kSdkVersion)
      .end_object();
  json.end_object();
  return out;
}

std::string build_envelope(std::string_view event_id, const std::vector<EnvelopeItem>& items,
                           const Tags& trace) {
  std::string out;
  JsonWriter header(out);
  header.begin_object();
  if (!event_id.empty()) header.member("event_id", event_id);
  if (!trace.empty()) {
    header.key("trace");
    write_pairs(header, trace);
  }
  header.member("sent_at", rfc3339(std::chrono::system_clock::now()));
  header.key("sdk")
      .begin_object()
      .member("name", kSdkName)
      .member("version", kSdkVersion)
      .end_object();
  header.end_object();
  out.push_back('\n');
  for (const EnvelopeItem& item : items) {
    JsonWriter item_header(out);
    item_header.begin_object()
        .member("type", item.type)
        .member("length", static_cast<std::uint64_t>(item.payload.size()))
        .end_object();
    out.push_back('\n');
    out += item.payload;
    out.push_back('\n');
  }
  return out;
}

std::string client_report_json(const DiscardCounts& counts) {
  std::string out;
  JsonWriter json(out);
  json.begin_object();
  json.member("timestamp", rfc3339(std::chrono::system_clock::now()));
  json.key("discarded_events").begin_array();
  for (const auto& [key, quantity] : counts)
    json.begin_object()
        .member("reason", key.first)
        .member("category", key.second)
        .member("quantity", quantity)
        .end_object();
  json.end_array().end_object();
  return out;
}

}  // namespace monitoring::sentry::detail

namespace monitoring::sentry::detail {
namespace {

double epoch_seconds(std::chrono::system_clock::time_point time) {
  using namespace std::chrono;
  return static_cast<double>(duration_cast<microseconds>(time.time_since_epoch()).count()) / 1e6;
}

void write_span_fields(JsonWriter& json, const SpanRecord& span, const Scrubber& scrubber) {
  json.member("span_id", span.span_id);
  if (!span.parent_span_id.empty()) json.member("parent_span_id", span.parent_span_id);
  json.member("op", span.op);
  if (!span.description.empty()) json.member("description", scrubber.scrubbed(span.description));
  json.member("status", span.status.empty() ? std::string("ok") : span.status);
  Tags tags = span.tags;
  Tags data = span.data;
  scrub_pairs(scrubber, tags);
  scrub_pairs(scrubber, data);
  if (!tags.empty()) {
    json.key("tags");
    write_pairs(json, tags);
  }
  if (!data.empty()) {
    json.key("data");
    write_pairs(json, data);
  }
}

}  // namespace

std::string transaction_json(const TransactionRecord& record, const Options& options,
                             const Scrubber& scrubber) {
  // The same precedence as events: global scope < shared context < the root span's own tags.
  Event merged;
  merge_scope(merged, record.global_scope.get());
  if (record.context.has_user()) {
    merged.user.id = std::string(record.context.user_id());
    merged.user.username = std::string(record.context.user_name());
  }
  if (!record.context.request_id().empty())
    set_member(merged.tags, "request_id", std::string(record.context.request_id()));
  for (const auto& [k, v] : record.root.tags) set_member(merged.tags, k, v);
  scrub_event(merged, scrubber);

  std::string out;
  out.reserve(2048);
  JsonWriter json(out);
  json.begin_object();
  json.member("type", "transaction");
  json.member("event_id", record.event_id);
  json.member("platform", "native");
  json.member("transaction", scrubber.scrubbed(record.name));
  json.key("transaction_info").begin_object().member("source", "custom").end_object();
  json.member("start_timestamp", epoch_seconds(record.root.start));
  json.member("timestamp", epoch_seconds(record.root.end));
  json.key("contexts").begin_object();
  json.key("trace").begin_object().member("type", "trace").member("trace_id", record.trace_id);
  SpanRecord root = record.root;
  root.tags.clear();  // they are the transaction's tags
  write_span_fields(json, root, scrubber);
  json.end_object();
  json.end_object();
  json.key("spans").begin_array();
  for (const SpanRecord& span : record.spans) {
    json.begin_object();
    json.member("trace_id", record.trace_id);
    write_span_fields(json, span, scrubber);
    json.member("start_timestamp", epoch_seconds(span.start));
    json.member("timestamp", epoch_seconds(span.end));
    json.end_object();
  }
  json.end_array();
  if (!merged.tags.empty()) {
    json.key("tags");
    write_pairs(json, merged.tags);
  }
  if (!merged.user.empty()) {
    json.key("user").begin_object();
    if (!merged.user.id.empty()) json.member("id", merged.user.id);
    if (!merged.user.username.empty()) json.member("username", merged.user.username);
    if (!merged.user.email.empty()) json.member("email", merged.user.email);
    json.end_object();
  }
  if (!options.environment.empty()) json.member("environment", options.environment);
  if (!options.release.empty()) json.member("release", options.release);
  const std::string& server =
      options.server_name.empty() ? host_info().hostname : options.server_name;
  if (!server.empty()) json.member("server_name", server);
  json.key("sdk")
      .begin_object()
      .member("name", kSdkName)
      .member("version", kSdkVersion)
      .end_object();
  json.end_object();
  return out;
}

}  // namespace monitoring::sentry::detail
