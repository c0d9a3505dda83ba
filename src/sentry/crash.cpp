// Crash capture: fatal signal and std::terminate handlers that leave a small text record in
// the cache directory, written with async-signal-safe calls only (open/write/close,
// clock_gettime, backtrace() preloaded at install, atomic loads of the breadcrumb log and
// the scope mirror, plain reads of the crashing thread's shared context), then chain to
// whatever was installed before. The next start turns the
// record into an event: the raw addresses are translated through the recorded module map
// into the new process's addresses and symbolized.
//
// Alternate signal stacks: a stack overflow can only be recorded on a separate stack. The
// thread that installs the handlers and every thread that later uses the client (capture,
// breadcrumbs, scopes, transactions) gets one, lazily, unless it already has one; it is
// released when the thread exits (and only switched off if it is still ours). A thread that
// never touches the client runs the handler on its own stack: a fault there is still
// recorded, a stack overflow there is not.

#include "sentry/crash.hpp"

#include <cxxabi.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <fstream>
#include <mutex>
#include <string>
#include <string_view>
#include <typeinfo>

#include "monitoring/logging/observer.hpp"
#include "sentry/debug_images.hpp"
#include "sentry/ids.hpp"
#include "sentry/scope.hpp"
#include "sentry/session.hpp"
#include "sentry/signal_safe.hpp"
#include "stacktrace/throw_site.hpp"

namespace monitoring::sentry::detail {
namespace {

constexpr int kSignals[] = {SIGSEGV, SIGABRT, SIGBUS, SIGILL, SIGFPE};
constexpr std::size_t kSignalCount = sizeof(kSignals) / sizeof(kSignals[0]);
constexpr std::size_t kAltStackBytes = 128 * 1024;  // virtual; pages are touched on use
constexpr std::size_t kMaxThreadFields = 64;        // context fields in a crash record
// How long a crashing thread waits for the logging backend to turn its last records into
// breadcrumbs: the backend idles at most 1 ms, so this only runs out when it is stuck.
constexpr std::int64_t kLogDrainWaitNs = 300'000'000;

// Where the loaded objects lie and their build ids, as crash-record lines.
struct ModuleMap {
  char modules[32768] = {};  // "module <base> <end> <path>\n" lines
  std::size_t modules_length = 0;
  char images[32768] = {};  // "image <addr> <size> <build id hex> <path>\n" lines
  std::size_t images_length = 0;
};

// Everything the handlers read is prepared beforehand: no allocation in a handler.
struct CrashState {
  char dir[2048] = {};
  // Two maps: a refresh (objects loaded since) fills the one handlers do not read, then
  // publishes it through current_map.
  ModuleMap maps[2];
  std::atomic<int> current_map{0};
  std::shared_ptr<const std::vector<DebugImage>> mapped_images;  // what the current map holds
  struct sigaction previous[kSignalCount] = {};
  std::terminate_handler previous_terminate = nullptr;
  bool installed = false;
};
CrashState g_state;
std::atomic<int> g_crashing{0};
std::mutex g_install_mutex;
std::atomic<bool> g_installed{false};  // handlers are ours: threads want an alternate stack

// Only the one thread that won g_crashing writes a record, so its buffers can be static
// (a small alternate stack of someone else's would not hold them).
char g_crumb_buffer[kMaxBreadcrumbText];

// The live session's id, so a crash record marks that session crashed. Published by
// set_crash_session: the length goes to 0 first, the text is written, then the length.
char g_session_sid[64] = {};
std::atomic<std::size_t> g_session_sid_length{0};
std::mutex g_session_sid_mutex;  // writers (the handlers only read)
std::uint64_t g_scope_buffer[SeqlockText::kWords];

// --- per-thread alternate signal stacks -------------------------------------------------------

pthread_key_t g_alt_stack_key;  // value: the mapping of the calling thread's stack
bool g_alt_stack_key_ready = false;
constinit thread_local bool t_alt_stack_done = false;

std::size_t page_size() noexcept {
  const long size = ::sysconf(_SC_PAGESIZE);
  return size > 0 ? static_cast<std::size_t>(size) : 4096;
}

/// Thread exit: switch the alternate stack off when it is still ours, then unmap it.
void release_alt_stack(void* mapping) {
  const std::size_t guard = page_size();
  stack_t current{};
  if (::sigaltstack(nullptr, &current) == 0 &&
      current.ss_sp == static_cast<char*>(mapping) + guard) {
    if (current.ss_flags & SS_ONSTACK) return;  // still running on it: leave it mapped
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    ::sigaltstack(&off, nullptr);
  }
  ::munmap(mapping, kAltStackBytes + guard);
}

const char* signal_name(int signal_number) {
  switch (signal_number) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGABRT:
      return "SIGABRT";
    case SIGBUS:
      return "SIGBUS";
    case SIGILL:
      return "SIGILL";
    case SIGFPE:
      return "SIGFPE";
    default:
      return "SIGNAL";
  }
}

// --- async-signal-safe output -------------------------------------------------------------

struct Writer {
  int fd;
  void text(const char* data, std::size_t length) {
    while (length > 0) {
      const ssize_t written = ::write(fd, data, length);
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) return;
      data += written;
      length -= static_cast<std::size_t>(written);
    }
  }
  void text(const char* data) { text(data, std::strlen(data)); }
  void number(std::uint64_t value, int base = 10) {
    char buffer[32];
    auto result = std::to_chars(buffer, buffer + sizeof buffer, value, base);
    text(buffer, static_cast<std::size_t>(result.ptr - buffer));
  }
  void hex(std::uintptr_t value) {
    text("0x");
    number(value, 16);
  }
};

int open_record() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  char path[sizeof g_state.dir + 64];
  std::size_t length = std::strlen(g_state.dir);
  std::memcpy(path, g_state.dir, length);
  path[length++] = '/';
  const std::uint64_t stamp = static_cast<std::uint64_t>(now.tv_sec) * 1000000000ull +
                              static_cast<std::uint64_t>(now.tv_nsec);
  auto result = std::to_chars(path + length, path + sizeof path, stamp);
  length = static_cast<std::size_t>(result.ptr - path);
  const char suffix[] = "-crash.crash";
  std::memcpy(path + length, suffix, sizeof suffix);  // NUL included
  return ::open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

/// The interrupted instruction of a signal (0 when unknown).
std::uintptr_t signal_pc(const void* context) {
  if (context == nullptr) return 0;
  [[maybe_unused]] const auto* uc = static_cast<const ucontext_t*>(context);
#if defined(__x86_64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
#elif defined(__aarch64__)
  return static_cast<std::uintptr_t>(uc->uc_mcontext.pc);
#else
  return 0;
#endif
}

/// The stack, innermost first. With the signal's `pc`, the frames of the handler and of the
/// kernel's signal trampoline go: the trace starts at the faulting instruction ("pc" line,
/// exact), then the return addresses of its callers.
/// `known` (a throw site, `known_count` frames) replaces this stack when given.
void write_frames_and_modules(Writer& out, std::uintptr_t pc = 0, void* const* known = nullptr,
                              int known_count = 0) {
  void* own[64];
  const int count = known_count > 0 ? known_count : ::backtrace(own, 64);
  void* const* frames = known_count > 0 ? known : own;
  int first = 0;
  if (pc != 0) {
    out.text("pc ");
    out.hex(pc);
    out.text("\n");
    // The unwinder reports the interrupted frame with its exact PC; when it could not unwind
    // through the signal frame, the faulting instruction alone is all that is known.
    first = count;
    for (int i = 0; i < count; ++i)
      if (reinterpret_cast<std::uintptr_t>(frames[i]) == pc) {
        first = i + 1;
        break;
      }
  }
  for (int i = first; i < count; ++i) {
    out.text("frame ");
    out.hex(reinterpret_cast<std::uintptr_t>(frames[i]));
    out.text("\n");
  }
  const ModuleMap& map = g_state.maps[g_state.current_map.load(std::memory_order_acquire)];
  out.text(map.modules, map.modules_length);
  out.text(map.images, map.images_length);
}

void write_crumb_line(void* context, const char* text, std::size_t length) {
  Writer& out = *static_cast<Writer*>(context);
  out.text("crumb ");
  out.text(text, length);
  out.text("\n");
}

/// The latest breadcrumbs and the global scope as the process had them.
void write_breadcrumbs_and_scope(Writer& out) {
  breadcrumb_log().visit(g_crumb_buffer, write_crumb_line, &out);
  std::size_t length = 0;
  if (scope_mirror().read(g_scope_buffer, length)) {
    out.text("scope 1\n");  // the record carries the scope, even when it is empty
    out.text(reinterpret_cast<const char*>(g_scope_buffer), length);
  }
}

// Escaped as the scope and breadcrumb lines are (backslash, tab, LF, CR), written in runs.
void write_escaped(Writer& out, std::string_view text) {
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char* escape = text[i] == '\\'   ? "\\\\"
                         : text[i] == '\t' ? "\\t"
                         : text[i] == '\n' ? "\\n"
                         : text[i] == '\r' ? "\\r"
                                           : nullptr;
    if (escape == nullptr) continue;
    out.text(text.data() + run, i - run);
    out.text(escape, 2);
    run = i + 1;
  }
  out.text(text.data() + run, text.size() - run);
}

void write_field_value(Writer& out, const FieldValue& value) {
  char buffer[64];
  std::to_chars_result result{buffer, {}};
  switch (value.type()) {
    case FieldValue::Type::kNull:
      return;
    case FieldValue::Type::kString:
      write_escaped(out, value.as_string());
      return;
    case FieldValue::Type::kBool:
      out.text(value.as_bool() ? "true" : "false");
      return;
    case FieldValue::Type::kInt:
      result = std::to_chars(buffer, buffer + sizeof buffer, value.as_int());
      break;
    case FieldValue::Type::kUint:
      result = std::to_chars(buffer, buffer + sizeof buffer, value.as_uint());
      break;
    case FieldValue::Type::kDouble:
      result = std::to_chars(buffer, buffer + sizeof buffer, value.as_double());
      break;
  }
  if (result.ec == std::errc()) out.text(buffer, static_cast<std::size_t>(result.ptr - buffer));
}

/// The crashing thread's shared context: which user and request crashed, in which trace.
/// tls_context points to an immutable state the thread keeps alive (context.cpp moves the
/// pointer before it releases the previous state), so plain reads are safe here.
void write_thread_context(Writer& out) {
  const monitoring::detail::ContextData* context = monitoring::detail::tls_context;
  if (context == nullptr) return;
  if (context->has_user) {
    out.text("thread_user ");
    write_escaped(out, context->user_id);
    out.text("\t");
    write_escaped(out, context->user_name);
    out.text("\n");
  }
  if (!context->request_id.empty()) {
    out.text("thread_request_id ");
    write_escaped(out, context->request_id);
    out.text("\n");
  }
  if (!context->trace_id.empty()) {
    out.text("thread_trace ");
    write_escaped(out, context->trace_id);
    out.text("\t");
    write_escaped(out, context->span_id);
    out.text("\n");
  }
  std::size_t written = 0;
  for (const OwnedField& field : context->fields) {
    if (++written > kMaxThreadFields) break;
    out.text("thread_field ");
    write_escaped(out, field.key);
    out.text("\t");
    write_field_value(out, field.value.view());
    out.text("\n");
  }
}

/// The live session this crash ends, with its errors so far.
void write_session(Writer& out) {
  const std::size_t length = g_session_sid_length.load(std::memory_order_acquire);
  if (length == 0) return;
  out.text("session ");
  out.text(g_session_sid, length);
  out.text("\nsession_errors ");
  out.number(g_session_errors.load(std::memory_order_relaxed));
  out.text("\n");
}

void write_time(Writer& out) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  out.text("time ");
  out.number(static_cast<std::uint64_t>(now.tv_sec));
  out.text("\n");
}

void on_fatal_signal(int signal_number, siginfo_t* info, void* context) {
  if (g_crashing.exchange(1) == 0) {
    const int fd = open_record();
    if (fd >= 0) {
      Writer out{fd};
      out.text("monitoring-crash 1\nkind signal\nsignal ");
      out.number(static_cast<std::uint64_t>(signal_number));
      out.text("\nname ");
      out.text(signal_name(signal_number));
      out.text("\ncode ");
      out.number(static_cast<std::uint64_t>(static_cast<std::uint32_t>(info ? info->si_code : 0)));
      out.text("\naddress ");
      out.hex(info ? reinterpret_cast<std::uintptr_t>(info->si_addr) : 0);
      out.text("\n");
      write_time(out);
      write_frames_and_modules(out, signal_pc(context));
      // The thread's last log lines are breadcrumbs only once the backend has seen them.
      logging::wait_until_observed_in_signal_handler(kLogDrainWaitNs);
      write_breadcrumbs_and_scope(out);
      write_thread_context(out);
      write_session(out);
      ::close(fd);
    }
  }
  // Chain: the handler installed before ours, else the default action (re-raised: the signal
  // is blocked while we run, so it arrives as soon as we return).
  std::size_t index = 0;
  while (index < kSignalCount && kSignals[index] != signal_number) ++index;
  if (index < kSignalCount) {
    const struct sigaction& previous = g_state.previous[index];
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction != nullptr) {
      previous.sa_sigaction(signal_number, info, context);
      return;
    }
    if (!(previous.sa_flags & SA_SIGINFO) && previous.sa_handler != SIG_DFL &&
        previous.sa_handler != SIG_IGN) {
      previous.sa_handler(signal_number);
      return;
    }
  }
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  ::sigaction(signal_number, &default_action, nullptr);
  ::raise(signal_number);
}

void on_terminate() {
  // Not a signal context: the exception's what() may be read normally.
  if (g_crashing.exchange(1) == 0) {
    const int fd = open_record();
    if (fd >= 0) {
      Writer out{fd};
      out.text("monitoring-crash 1\nkind terminate\n");
      if (const std::type_info* type = abi::__cxa_current_exception_type()) {
        out.text("type ");
        out.text(type->name());
        out.text("\n");
        try {
          std::rethrow_exception(std::current_exception());
        } catch (const std::exception& error) {
          out.text("value ");
          for (const char* c = error.what(); *c != '\0'; ++c) out.text(*c == '\n' ? " " : c, 1);
          out.text("\n");
        } catch (...) {
        }
      }
      write_time(out);
      // Where the exception was thrown, when known: this handler's own stack shows only the
      // runtime that gave up on it (under clang it ends in __clang_call_terminate).
      void* thrown_at[64];
      const std::uint32_t thrown =
          stacktrace::detail::throw_site(std::current_exception(), thrown_at, 64);
      write_frames_and_modules(out, 0, thrown_at, static_cast<int>(thrown));
      logging::wait_until_observed_in_signal_handler(kLogDrainWaitNs);
      write_breadcrumbs_and_scope(out);
      write_thread_context(out);
      write_session(out);
      ::close(fd);
    }
  }
  if (g_state.previous_terminate != nullptr) g_state.previous_terminate();
  std::abort();
}

int record_module(dl_phdr_info* info, std::size_t, void* data) {
  auto* state = static_cast<ModuleMap*>(data);
  std::uintptr_t end = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& header = info->dlpi_phdr[i];
    if (header.p_type == PT_LOAD)
      end = std::max<std::uintptr_t>(end, info->dlpi_addr + header.p_vaddr + header.p_memsz);
  }
  std::string path = info->dlpi_name != nullptr ? info->dlpi_name : "";
  if (path.empty()) {  // the main program
    char exe[4096];
    const ssize_t length = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (length <= 0) return 0;
    path.assign(exe, static_cast<std::size_t>(length));
  }
  char line[4300];
  const int length = std::snprintf(line, sizeof line, "module 0x%llx 0x%llx %s\n",
                                   static_cast<unsigned long long>(info->dlpi_addr),
                                   static_cast<unsigned long long>(end), path.c_str());
  if (length <= 0 ||
      state->modules_length + static_cast<std::size_t>(length) >= sizeof state->modules)
    return 0;
  std::memcpy(state->modules + state->modules_length, line, static_cast<std::size_t>(length));
  state->modules_length += static_cast<std::size_t>(length);
  return 0;
}

/// The images with their build ids, for the debug_meta of the crash event.
void record_images(ModuleMap& state, const std::vector<DebugImage>& images) {
  state.images_length = 0;
  for (const DebugImage& image : images) {
    char line[4400];
    const int length =
        std::snprintf(line, sizeof line, "image 0x%llx 0x%llx %s %s\n",
                      static_cast<unsigned long long>(image.image_addr),
                      static_cast<unsigned long long>(image.image_size),
                      image.code_id.empty() ? "-" : image.code_id.c_str(), image.code_file.c_str());
    if (length <= 0 ||
        state.images_length + static_cast<std::size_t>(length) >= sizeof state.images)
      return;
    std::memcpy(state.images + state.images_length, line, static_cast<std::size_t>(length));
    state.images_length += static_cast<std::size_t>(length);
  }
}

/// Rebuilds the map handlers do not read and publishes it. g_install_mutex held.
void refresh_module_map_locked(std::shared_ptr<const std::vector<DebugImage>> images) {
  const int next = 1 - g_state.current_map.load(std::memory_order_relaxed);
  ModuleMap& map = g_state.maps[next];
  map.modules_length = 0;
  dl_iterate_phdr(record_module, &map);
  record_images(map, *images);
  g_state.mapped_images = std::move(images);
  g_state.current_map.store(next, std::memory_order_release);
}

struct Module {
  std::uintptr_t base = 0;
  std::uintptr_t end = 0;
  std::string path;
};

int collect_module(dl_phdr_info* info, std::size_t, void* data) {
  auto* modules = static_cast<std::vector<Module>*>(data);
  Module module;
  module.base = info->dlpi_addr;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& header = info->dlpi_phdr[i];
    if (header.p_type == PT_LOAD)
      module.end =
          std::max<std::uintptr_t>(module.end, info->dlpi_addr + header.p_vaddr + header.p_memsz);
  }
  module.path = info->dlpi_name != nullptr ? info->dlpi_name : "";
  if (module.path.empty()) {
    char exe[4096];
    const ssize_t length = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (length > 0) module.path.assign(exe, static_cast<std::size_t>(length));
  }
  modules->push_back(std::move(module));
  return 0;
}

std::uintptr_t parse_hex(std::string_view text) {
  if (text.starts_with("0x")) text.remove_prefix(2);
  std::uintptr_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value, 16);
  return value;
}

}  // namespace

void ensure_thread_alt_stack() noexcept {
  if (t_alt_stack_done) return;
  if (!g_installed.load(std::memory_order_acquire)) return;  // asked again once installed
  t_alt_stack_done = true;
  stack_t current{};
  if (::sigaltstack(nullptr, &current) != 0 || !(current.ss_flags & SS_DISABLE))
    return;  // the thread has one already (the application's, a sanitizer's): keep it
  const std::size_t guard = page_size();
  void* mapping = ::mmap(nullptr, kAltStackBytes + guard, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping == MAP_FAILED) return;
  ::mprotect(mapping, guard, PROT_NONE);  // stacks grow down: an overrun faults, not corrupts
  stack_t stack{};
  stack.ss_sp = static_cast<char*>(mapping) + guard;
  stack.ss_size = kAltStackBytes;
  if (::sigaltstack(&stack, nullptr) != 0 || ::pthread_setspecific(g_alt_stack_key, mapping) != 0) {
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    ::sigaltstack(&off, nullptr);
    ::munmap(mapping, kAltStackBytes + guard);
  }
}

void install_crash_handlers(const std::string& cache_dir) {
  std::lock_guard lock(g_install_mutex);
  if (cache_dir.size() >= sizeof g_state.dir) return;
  std::memset(g_state.dir, 0, sizeof g_state.dir);
  std::memcpy(g_state.dir, cache_dir.data(), cache_dir.size());
  refresh_module_map_locked(loaded_images());
  g_crashing.store(0);  // re-armed: an earlier, survived crash was recorded already
  if (g_state.installed) return;
  // backtrace() loads libgcc_s on first use (which allocates): do it now, not in a handler.
  void* warm[4];
  ::backtrace(warm, 4);
  if (!g_alt_stack_key_ready)
    g_alt_stack_key_ready = ::pthread_key_create(&g_alt_stack_key, release_alt_stack) == 0;
  for (std::size_t i = 0; i < kSignalCount; ++i) {
    struct sigaction action {};
    action.sa_sigaction = on_fatal_signal;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    ::sigaction(kSignals[i], &action, &g_state.previous[i]);
  }
  g_state.previous_terminate = std::set_terminate(on_terminate);
  g_state.installed = true;
  if (g_alt_stack_key_ready) {
    g_installed.store(true, std::memory_order_release);
    ensure_thread_alt_stack();  // this thread's, so a stack overflow here is recorded too
  }
}

void refresh_crash_module_map() {
  auto images = loaded_images();  // the same list while nothing was loaded or unloaded
  std::lock_guard lock(g_install_mutex);
  if (g_state.installed && images != g_state.mapped_images)
    refresh_module_map_locked(std::move(images));
}

void set_crash_session(std::string_view sid) noexcept {
  std::lock_guard lock(g_session_sid_mutex);
  g_session_sid_length.store(0, std::memory_order_release);
  if (sid.size() > sizeof g_session_sid) return;
  std::memcpy(g_session_sid, sid.data(), sid.size());
  g_session_sid_length.store(sid.size(), std::memory_order_release);
}

void clear_crash_session(std::string_view sid) noexcept {
  std::lock_guard lock(g_session_sid_mutex);
  const std::size_t length = g_session_sid_length.load(std::memory_order_relaxed);
  if (std::string_view(g_session_sid, length) == sid)
    g_session_sid_length.store(0, std::memory_order_release);
}

CrashedSession crash_record_session(const std::string& path) {
  CrashedSession out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t space = line.find(' ');
    if (space == std::string::npos) continue;
    const std::string_view key = std::string_view(line).substr(0, space);
    const std::string_view rest = std::string_view(line).substr(space + 1);
    if (key == "session") {
      out.sid = std::string(rest);
    } else if (key == "session_errors") {
      std::from_chars(rest.data(), rest.data() + rest.size(), out.errors);
    } else if (key == "time") {
      long long seconds = 0;
      std::from_chars(rest.data(), rest.data() + rest.size(), seconds);
      if (seconds > 0)
        out.time = std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
    }
  }
  return out;
}

void uninstall_crash_handlers() {
  std::lock_guard lock(g_install_mutex);
  if (!g_state.installed) return;
  for (std::size_t i = 0; i < kSignalCount; ++i)
    ::sigaction(kSignals[i], &g_state.previous[i], nullptr);
  std::set_terminate(g_state.previous_terminate);
  g_state.installed = false;
  g_installed.store(false, std::memory_order_release);
}

std::unique_ptr<Captured> read_crash_record(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line) || line != "monitoring-crash 1") return nullptr;
  auto captured = std::make_unique<Captured>();
  Event& event = captured->event;
  event.event_id = new_event_id();
  event.level = Level::kFatal;
  event.handled = false;
  event.timestamp = std::chrono::system_clock::now();
  std::string kind, name, type, value, code, address, signal_number;
  std::vector<std::uintptr_t> frames;
  std::uintptr_t pc = 0;  // the faulting instruction of a signal
  std::vector<Module> recorded;
  std::vector<DebugImage> recorded_images;
  std::shared_ptr<ScopeData> scope;  // set when the record carries the crashed process's scope
  std::shared_ptr<monitoring::detail::ContextData> thread_context;  // the crashing thread's
  const auto context_data = [&thread_context] {
    if (!thread_context) thread_context = std::make_shared<monitoring::detail::ContextData>();
    return thread_context.get();
  };
  while (std::getline(in, line)) {
    const std::size_t space = line.find(' ');
    const std::string key = line.substr(0, space);
    const std::string rest = space == std::string::npos ? std::string() : line.substr(space + 1);
    if (key == "crumb") {
      captured->breadcrumb_lines += rest;
      captured->breadcrumb_lines.push_back('\n');
    } else if (key == "scope") {
      scope = std::make_shared<ScopeData>();
    } else if (scope && (key == "user" || key == "tag" || key == "extra" || key == "context" ||
                         key == "fingerprint")) {
      std::vector<std::string> fields = split_escaped(rest);
      if (key == "user" && fields.size() == 4) {
        scope->has_user = true;
        scope->user = {std::move(fields[0]), std::move(fields[1]), std::move(fields[2]),
                       std::move(fields[3])};
      } else if ((key == "tag" || key == "extra") && fields.size() == 2) {
        (key == "tag" ? scope->tags : scope->extra)
            .emplace_back(std::move(fields[0]), std::move(fields[1]));
      } else if (key == "context" && fields.size() % 2 == 1) {
        Tags values;
        for (std::size_t i = 1; i + 1 < fields.size(); i += 2)
          values.emplace_back(std::move(fields[i]), std::move(fields[i + 1]));
        scope->contexts.emplace_back(std::move(fields[0]), std::move(values));
      } else if (key == "fingerprint") {
        scope->fingerprint = std::move(fields);
      }
    } else if (key.starts_with("thread_")) {
      std::vector<std::string> fields = split_escaped(rest);
      if (key == "thread_user" && fields.size() == 2) {
        context_data()->has_user = true;
        context_data()->user_id = std::move(fields[0]);
        context_data()->user_name = std::move(fields[1]);
      } else if (key == "thread_request_id" && fields.size() == 1) {
        context_data()->request_id = std::move(fields[0]);
      } else if (key == "thread_trace" && fields.size() == 2) {
        context_data()->trace_id = std::move(fields[0]);
        context_data()->span_id = std::move(fields[1]);
      } else if (key == "thread_field" && fields.size() == 2) {
        context_data()->fields.push_back(
            OwnedField{std::move(fields[0]), OwnedValue(FieldValue(fields[1]))});
      }
    } else if (key == "kind")
      kind = rest;
    else if (key == "name")
      name = rest;
    else if (key == "signal")
      signal_number = rest;
    else if (key == "code")
      code = rest;
    else if (key == "address")
      address = rest;
    else if (key == "type")
      type = rest;
    else if (key == "value")
      value = rest;
    else if (key == "time") {
      long long seconds = 0;
      std::from_chars(rest.data(), rest.data() + rest.size(), seconds);
      if (seconds > 0)
        event.timestamp = std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
    } else if (key == "frame") {
      frames.push_back(parse_hex(rest));
    } else if (key == "pc") {
      pc = parse_hex(rest);
    } else if (key == "image") {
      // "<addr> <size> <build id hex or -> <path>"; the path may hold spaces.
      std::size_t at = 0;
      std::string_view fields[3];
      for (std::string_view& field : fields) {
        const std::size_t space = rest.find(' ', at);
        if (space == std::string::npos) break;
        field = std::string_view(rest).substr(at, space - at);
        at = space + 1;
      }
      if (fields[2].empty() || at >= rest.size()) continue;
      DebugImage image;
      image.image_addr = parse_hex(fields[0]);
      image.image_size = parse_hex(fields[1]);
      if (fields[2] != "-") {
        image.code_id = std::string(fields[2]);
        std::string bytes;
        for (std::size_t i = 0; i + 1 < fields[2].size(); i += 2)
          bytes.push_back(static_cast<char>(parse_hex(fields[2].substr(i, 2))));
        image.debug_id = debug_id_from_build_id(bytes);
      }
      image.code_file = rest.substr(at);
      recorded_images.push_back(std::move(image));
    } else if (key == "module") {
      const std::size_t second = rest.find(' ');
      const std::size_t third = rest.find(' ', second + 1);
      if (second == std::string::npos || third == std::string::npos) continue;
      recorded.push_back({parse_hex(rest.substr(0, second)),
                          parse_hex(rest.substr(second + 1, third - second - 1)),
                          rest.substr(third + 1)});
    }
  }
  if (kind == "signal") {
    event.mechanism = "signalhandler";
    event.message = "Fatal signal " + name;
    captured->chain.push_back({name.empty() ? "signal" : name, true,
                               "Fatal signal " + name + " (" + signal_number + "), code " + code +
                                   ", address " + address});
  } else if (kind == "terminate") {
    event.mechanism = "terminate";
    event.message = "std::terminate called";
    captured->chain.push_back({type.empty() ? "std::terminate" : type, type.empty(),
                               value.empty() ? "std::terminate called" : value});
  } else {
    return nullptr;
  }
  // The crashed process's addresses, moved to where the same binaries are loaded now.
  std::vector<Module> current;
  dl_iterate_phdr(collect_module, &current);
  // The same object's base then and now (by path); false when it is not loaded now.
  const auto move_address = [&](std::uintptr_t address, const Module* from, std::uintptr_t& moved) {
    const Module* to = nullptr;
    if (from != nullptr)
      for (const Module& module : current)
        if (module.path == from->path) to = &module;
    if (to == nullptr) return false;
    moved = address - from->base + to->base;
    return true;
  };
  const auto module_of = [&](std::uintptr_t address) {
    const Module* from = nullptr;
    for (const Module& module : recorded)
      if (address >= module.base && address < module.end && (!from || module.base > from->base))
        from = &module;
    return from;
  };
  std::size_t unresolved = 0;
  std::uintptr_t moved = 0;
  if (pc != 0) {
    if (move_address(pc, module_of(pc), moved)) {
      captured->frames.push_back(reinterpret_cast<void*>(moved));
      captured->first_frame_is_pc = true;
    } else {
      ++unresolved;
    }
  }
  for (std::uintptr_t frame : frames) {
    if (!move_address(frame, module_of(frame), moved)) {
      ++unresolved;
      continue;
    }
    captured->frames.push_back(reinterpret_cast<void*>(moved));
  }
  // The images as the frames now are: moved like them, those not loaded now left out.
  auto images = std::make_shared<std::vector<DebugImage>>();
  for (DebugImage& image : recorded_images) {
    const Module* from = nullptr;
    for (const Module& module : recorded)
      if (module.path == image.code_file) from = &module;
    if (move_address(image.image_addr, from, moved)) {
      image.image_addr = moved;
      images->push_back(std::move(image));
    }
  }
  if (!images->empty()) captured->images = std::move(images);
  if (unresolved > 0) event.extra.emplace_back("unresolved_frames", std::to_string(unresolved));
  captured->global_scope = std::move(scope);
  if (thread_context) captured->context = ContextSnapshot(std::move(thread_context));
  return captured;
}

}  // namespace monitoring::sentry::detail
